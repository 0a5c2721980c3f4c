"""Load benchmark: N concurrent uploads and M live 30 fps streams against one service.

For --seconds, each upload worker posts a 720p clip again and again, and each stream
worker sends a 720p H.264 Annex-B stream in real time, one encoded frame per message, and
times each frame from sending to its answer. Printed: total frames/s, stream latency
p50/p95/p99, whether every stream kept up, mean and max batch size (from /metrics),
rejected requests, and whether every upload was answered for each of its frames. Before
the load, D (decode of the stream clip) and I (inference at the max batch) are measured on
the same machine, for the bound B = 1/(1/D + 1/I) (CPU).

With --on-overload pause,skip the streams' overload policy alternates between loads of the
same service (`skip`: a stream whose decoding lags skips to its next keyframe), and each
load reports the share of the frames sent that were skipped. The stream clip is a live
encoder's: x264 `zerolatency`, a keyframe every --gop frames (30: one a second).

With --compare, the same load runs alternately (--rounds times each, after a 5 s warm-up of
each) against the service as configured (decoding in worker processes) and one decoding in
its own process (DISTILSCREEN_DECODE_WORKERS=0), and the medians of their frames/s are
compared.

    python bench/load.py [--url URL] [--uploads 2] [--streams 8] [--seconds 20]
    python bench/load.py --uploads 16 --streams 0 --seconds 10 --compare
    python bench/load.py --uploads 0 --streams 8 --on-overload pause,skip --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import av
import httpx
import numpy as np
import websockets
from common import IN_PROCESS, decode_fps, inference_fps, limits_of, machine, make_clip, start_service

from app.config import Settings
from app.inference.engine import Engine


def scrape(url: str) -> dict[str, float]:
    """The service's metrics, `name{labels}` -> value."""
    text = httpx.get(f"{url}/metrics").text
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and line[0] != "#"
    }


def packets(path: Path) -> list[bytes]:
    """The clip's encoded frames as Annex-B messages, one per frame."""
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(video=0) if p.size]


async def upload_worker(url: str, body: bytes, frames: int, stop_at: float, tally: dict[str, int]) -> None:
    async with httpx.AsyncClient(timeout=120) as client:
        while time.monotonic() < stop_at:
            r = await client.post(f"{url}/v1/screen", content=body, headers={"content-type": "video/mp4"})
            if r.status_code == 200:
                answered = len(r.json()["frames"])
                tally["upload_frames"] += answered
                if answered != frames:  # frames in must be answers out
                    tally["upload_incomplete"] = tally.get("upload_incomplete", 0) + 1
            else:
                tally[f"upload_{r.status_code}"] = tally.get(f"upload_{r.status_code}", 0) + 1
                await asyncio.sleep(float(r.headers.get("retry-after", 1)))


async def stream_worker(
    url: str, frames: list[bytes], args: argparse.Namespace, policy: str, latencies: list[float],
    tally: dict[str, int],
) -> None:
    fps, seconds = args.fps, args.seconds
    sent: dict[int, float] = {}
    # No client keepalive: a server that pauses reading (its backpressure) reads no pings either.
    ws_url = url.replace("http", "ws", 1) + "/v1/stream"
    async with websockets.connect(ws_url, max_size=None, ping_interval=None) as ws:
        await ws.send(json.dumps({"type": "config", "kind": "h264", "on_overload": policy}))

        async def send() -> None:
            start = time.perf_counter()
            for i in range(int(seconds * fps)):
                await asyncio.sleep(max(0.0, start + i / fps - time.perf_counter()))
                sent[i] = time.perf_counter()
                await ws.send(frames[i % len(frames)])
            await ws.send(json.dumps({"type": "end"}))

        sender = asyncio.create_task(send())
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] == "frame":
                latencies.append(time.perf_counter() - sent[message["index"]])
                tally["stream_frames"] += 1
            elif message["type"] == "error":
                tally[f"stream_{message['code']}"] = tally.get(f"stream_{message['code']}", 0) + 1
            elif message["type"] == "summary":
                tally["stream_skipped"] += message["frames_skipped"]
                tally["stream_received"] += message["frames_received"]
        await sender
    tally["stream_sent"] += len(sent)


def batch_stats(before: dict[str, float], after: dict[str, float]) -> tuple[float, int]:
    """Mean batch size during the run, and the largest bucket bound that gained batches."""
    delta = {
        k: after.get(k, 0) - before.get(k, 0) for k in after if k.startswith("distilscreen_batch_size_frames")
    }
    count, total = (
        delta.get("distilscreen_batch_size_frames_count", 0),
        delta.get("distilscreen_batch_size_frames_sum", 0),
    )
    buckets = sorted((float(re.search(r'le="([^"]+)"', k)[1]), v) for k, v in delta.items() if "_bucket" in k)
    largest = max(
        (le for (le, v), (_, below) in zip(buckets, [(0.0, 0.0), *buckets], strict=False) if v > below),
        default=0,
    )
    return (total / count if count else 0.0), int(largest)


async def run_load(
    url: str, args: argparse.Namespace, policy: str, upload_body: bytes, upload_frames: int,
    frames: list[bytes],
) -> dict:
    counts = ("upload_frames", "stream_frames", "stream_sent", "stream_skipped", "stream_received")
    tally = dict.fromkeys(counts, 0)
    latencies: list[float] = []
    stop_at = time.monotonic() + args.seconds
    jobs = [upload_worker(url, upload_body, upload_frames, stop_at, tally) for _ in range(args.uploads)]
    jobs += [stream_worker(url, frames, args, policy, latencies, tally) for _ in range(args.streams)]
    started = time.perf_counter()
    await asyncio.gather(*jobs)
    return {"elapsed": time.perf_counter() - started, "tally": tally, "latencies": latencies}


@dataclass
class Run:
    """One load against one service: what it screened and answered."""

    rate: float  # frames/s screened
    tally: dict[str, int]
    latencies_ms: np.ndarray
    mean_batch: float
    max_batch: int
    rejected: dict[str, float]


def measure(
    url: str, args: argparse.Namespace, policy: str, upload: bytes, upload_frames: int, stream: list[bytes]
) -> Run:
    before = scrape(url)
    result = asyncio.run(run_load(url, args, policy, upload, upload_frames, stream))
    after = scrape(url)
    counter = "distilscreen_frames_screened_total"
    screened = after[counter] - before.get(counter, 0)
    mean_batch, max_batch = batch_stats(before, after)
    rejected = {
        k: after[k] - before.get(k, 0) for k in after if k.startswith("distilscreen_rejected_requests_total")
    }
    return Run(screened / result["elapsed"], result["tally"], np.array(result["latencies"]) * 1000,
               mean_batch, max_batch, {k: v for k, v in rejected.items() if v})


def report(run: Run, bound: float, args: argparse.Namespace, policy: str, batch_size: int) -> None:
    tally, lat = run.tally, run.latencies_ms
    print(f"total:    {run.rate:.1f} frames/s screened = {run.rate / bound:.2f} x B")
    if len(lat):
        p50, p95, p99 = np.percentile(lat, [50, 95, 99])
        target = 200 if policy == "skip" else 100
        skipped = tally["stream_skipped"] / tally["stream_sent"]
        print(f"streams:  {tally['stream_frames']} answered of {tally['stream_sent']} sent "
              f"(on_overload {policy}: {tally['stream_skipped']} skipped, {skipped:.1%}; "
              f"{tally['stream_received']} received by the server)")
        print(f"latency:  p50 {p50:.1f}  p95 {p95:.1f}  p99 {p99:.1f} ms (target p99 <= {target} ms)")
        print(f"realtime: {'yes' if p99 <= target else 'no'} "
              f"(p99 <= {target} ms at {args.fps:g} fps per stream)")
    fill = run.mean_batch / batch_size
    print(f"batches:  mean {run.mean_batch:.1f}, max {run.max_batch} of {batch_size}, fill {fill:.2f}")
    others = {
        k: v
        for k, v in tally.items()
        if k.startswith(("upload_4", "upload_5", "upload_incomplete", "stream_"))
        and k not in ("stream_frames", "stream_sent", "stream_skipped", "stream_received")
    }
    print(f"uploads:  {tally['upload_frames']} frames answered; other outcomes {others or 'none'}")
    dropped = "skipped as counted above" if policy == "skip" else "none (streams pause reading instead)"
    print(f"rejected: {run.rejected or 'none'}; dropped: {dropped}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running service (default: start one with the DISTILSCREEN_* env)")
    parser.add_argument("--uploads", type=int, default=2)
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--fps", type=float, default=30)
    parser.add_argument("--compare", action="store_true",
                        help="also load a service decoding in its own process, alternately")
    parser.add_argument("--rounds", type=int, default=3, help="loads of each service or policy")
    parser.add_argument("--on-overload", default="pause", help="the streams' policies: pause,skip")
    parser.add_argument("--gop", type=int, default=30, help="frames between the stream clip's keyframes")
    args = parser.parse_args()
    if args.compare and args.url:
        parser.error("--compare starts its own two services: leave out --url")
    policies = args.on_overload.split(",")
    if not set(policies) <= {"pause", "skip"} or (args.compare and len(policies) > 1):
        parser.error("--on-overload takes pause, skip or pause,skip (one of them with --compare)")

    settings = Settings()
    engine = Engine.from_settings(settings)
    workdir = Path(tempfile.mkdtemp())
    upload_clip = make_clip(workdir / "upload.mp4", frames=150)
    live = {"tune": "zerolatency", "g": str(args.gop), "keyint_min": str(args.gop)}
    stream_clip = make_clip(workdir / "stream.h264", frames=150, container_format="h264", options=live)
    # D of the clip being served: x264's zerolatency stream clip decodes slower than the
    # upload clip (no B-frames, no frame threads), so the bound follows the load's clip.
    bound_clip = stream_clip if args.streams else upload_clip
    d, decoded = decode_fps(bound_clip, engine, limits_of(settings))
    i = inference_fps(engine, np.concatenate([decoded] * 2), settings.max_batch_size)
    bound = 1 / (1 / d + 1 / i)
    load = (upload_clip.read_bytes(), 150, packets(stream_clip))

    port = 19000 + os.getpid() % 1000
    envs = {"workers": {}, "in-process": IN_PROCESS} if args.compare else {"service": {}}
    urls = {name: args.url or f"http://127.0.0.1:{port + n}" for n, name in enumerate(envs)}
    services = [] if args.url else [start_service(port + n, env=env) for n, env in enumerate(envs.values())]
    loads = [(name, url, policy) for name, url in urls.items() for policy in policies]
    runs: dict[tuple[str, str], list[Run]] = {(name, policy): [] for name, _, policy in loads}
    several = len(loads) > 1
    try:
        if several:  # a burst starts workers beyond the pool's size once: measure after it
            warm_up = argparse.Namespace(**vars(args) | {"seconds": min(5.0, args.seconds)})
            for _, url, policy in loads:
                measure(url, warm_up, policy, *load)
        for _ in range(args.rounds if several else 1):
            for name, url, policy in loads:  # alternately: drift on a shared machine hits all
                runs[name, policy].append(measure(url, args, policy, *load))
    finally:
        for service in services:
            service.terminate()
            service.wait()
    card = engine.card
    print(f"machine:  {machine()}")
    print(f"model:    {card.name} @ {card.input.width}x{card.input.height} on {engine.providers}")
    print(f"load:     {args.uploads} uploads + {args.streams} 720p streams at {args.fps:g} fps, "
          f"a keyframe every {args.gop} frames")
    print(f"bound:    D {d:.1f} ({bound_clip.name})  I {i:.1f}  B = 1/(1/D + 1/I) {bound:.1f} frames/s")
    for (name, policy), done in runs.items():
        if several:
            rates = [round(r.rate, 1) for r in done]
            print(f"--- {name}, on_overload {policy}: frames/s {rates}; the median run:")
        median = sorted(done, key=lambda r: r.rate)[len(done) // 2]
        report(median, bound, args, policy, settings.max_batch_size)
    if args.compare:
        workers, local = (statistics.median(r.rate for r in runs[n, policies[0]]) for n in envs)
        print(f"workers / in-process = {workers / local:.3f} (medians: {workers:.1f} / {local:.1f} frames/s)")


if __name__ == "__main__":
    main()
