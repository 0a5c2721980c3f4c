"""Bulk benchmark: `distilscreen bulk` on a local Ray against the service with N concurrent
uploads, on the same corpus, side by side in one run; the pool size swept; and how it
would scale on a cluster, from the figures measured here.

Each round screens the corpus (every frame of --clips 720p H.264 clips) three ways, in
turn: the service (`distilscreen serve`, decoding in worker processes) with --uploads
concurrent uploads, and `bulk` with each pool size of --pools (predictor actors, each with
--actor-cpus of the local Ray's logical CPUs; decode tasks --decode-cpus each). Medians of
--rounds are compared, after a warm-up of each (Ray's worker processes started). A bulk
run has a fixed start (the sources, the driver's model, Ray's plan, the actors and their
models): a run of a 3-frame clip measures it, and the frames/s without it are shown
too (what a corpus long enough to amortise it gets). Then, alone: one decode
task's frames/s (D1: the service's decoder worker, as a decode task runs it), one
predictor's frames/s on decoded frames at
--batch-size (A1: an actor's ceiling), and the driver's results writer in rows/s (W: the
ceiling of one driver), which give the cluster arithmetic.

    python bench/bulk.py [--clips 16] [--frames 150] [--uploads 4] [--pools 1,2] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from common import machine, make_clip, start_service

from app.bulk.decode import DecodePlan, decode_videos
from app.bulk.pipeline import BulkJob, run_bulk
from app.bulk.predict import Predictor
from app.bulk.results import ResultWriter
from app.config import Settings
from app.schemas import ScreenOptions


async def _uploads(url: str, paths: list[Path], concurrency: int) -> int:
    """Every clip posted once, `concurrency` at a time; the frames screened."""
    queue: asyncio.Queue[Path] = asyncio.Queue()
    for path in paths:
        queue.put_nowait(path)
    screened = 0

    async def worker() -> None:
        nonlocal screened
        async with httpx.AsyncClient(timeout=600) as client:
            while not queue.empty():
                body = queue.get_nowait().read_bytes()
                response = await client.post(f"{url}/v1/screen", content=body, params={"max_frames": 10_000},
                                             headers={"content-type": "video/mp4"})
                response.raise_for_status()
                screened += response.json()["video"]["frames_screened"]

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return screened


def service_fps(url: str, paths: list[Path], concurrency: int) -> float:
    started = time.perf_counter()
    frames = asyncio.run(_uploads(url, paths, concurrency))
    return frames / (time.perf_counter() - started)


def bulk_run(
    settings: Settings, paths: list[Path], pool: int, args: argparse.Namespace, out: Path
) -> tuple[int, float]:
    """One bulk run: frames screened, wall seconds."""
    job = BulkJob(sources=[str(p) for p in paths], out=out, options=ScreenOptions(max_frames=10_000),
                  concurrency=pool, batch_size=args.batch_size, actor_cpus=args.actor_cpus,
                  decode_cpus=args.decode_cpus, videos_per_part=len(paths))
    summary = run_bulk(settings, job)
    assert not summary.errors and summary.screened == len(paths), summary
    return summary.frames, summary.seconds


def decoded_rows(settings: Settings, path: Path) -> tuple[dict[str, np.ndarray], float]:
    """One clip through a decode task's function, here: its rows, and D1 (frames/s)."""
    from app.inference.engine import Engine
    from app.judges import make_judge
    from app.metrics import Metrics
    from app.screening import Screener
    from app.video.decoders import LocalDecoder

    engine = Engine.from_settings(settings)
    judge = make_judge(settings, engine, Metrics())
    screener = Screener.from_settings(settings, engine.card, judge, LocalDecoder(), Metrics())
    plan = DecodePlan(settings, screener.sampling(ScreenOptions(max_frames=10_000)), screener.limits,
                      judge.conversions, threads=1)
    list(decode_videos({"video_id": np.array([str(path)])}, plan))  # starts this process's decoder worker
    started = time.perf_counter()
    blocks = list(decode_videos({"video_id": np.array([str(path)])}, plan))
    seconds = time.perf_counter() - started
    rows = {c: np.array([v for b in blocks for v in b[c]], dtype=object) for c in blocks[0]}
    frames = int((rows["kind"] == "frame").sum())
    return rows, frames / seconds


def actor_fps(settings: Settings, rows: dict[str, np.ndarray], batch_size: int, repeats: int = 3) -> float:
    """A1: one predictor (made as an actor makes it) on decoded rows, `batch_size` a call."""
    predictor = Predictor(settings.model_copy(update={"max_batch_size": batch_size, "intra_op_threads": 1}))
    n = len(rows["video_id"])
    best = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        for i in range(0, n, batch_size):
            predictor({c: v[i : i + batch_size] for c, v in rows.items()})
        best = max(best, n / (time.perf_counter() - started))
    predictor.close()
    return best


def writer_rows_per_s(settings: Settings, out: Path, videos: int = 200, frames: int = 100) -> float:
    """W: the driver's results writer, in frame rows a second (parsing, summaries, Parquet)."""
    from app.contract.card import parse_card
    from app.contract.predictor import open_session

    session, _ = open_session(settings.model_path, ["CPUExecutionProvider"])
    card = parse_card(session.get_modelmeta().custom_metadata_map, str(settings.model_path))
    writer = ResultWriter(out, card, False, {}, videos_per_part=64)
    facts = {"container": "mov,mp4", "codec": "h264", "width": 1280, "height": 720, "fps": 30.0,
             "duration_s": 3.0, "declared_frames": frames, "frames_decoded": frames,
             "frames_screened": frames}
    batches = []
    for v in range(videos):
        detail = [json.dumps({"index": i, "time_s": i / 30, "p_synthetic": 0.5}) for i in range(frames)]
        detail.append(json.dumps({"frames": frames, "facts": facts, "decode_s": 0.1}))
        batches.append({"video_id": [f"v{v}"] * (frames + 1), "kind": ["frame"] * frames + ["video"],
                        "detail": detail})
    started = time.perf_counter()
    for batch in batches:
        writer.add(batch)
    writer.close(())
    return videos * frames / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--frames", type=int, default=150, help="frames of each clip (30 fps)")
    parser.add_argument("--uploads", type=int, default=4, help="the service's concurrent uploads")
    parser.add_argument("--pools", default="1,2", help="predictor pool sizes to compare")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--actor-cpus", type=float, default=0.5, help="logical CPUs per predictor")
    parser.add_argument("--decode-cpus", type=float, default=0.5, help="logical CPUs per decode task")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--gpu-fps", type=float, help="one GPU predictor's frames/s, measured elsewhere")
    args = parser.parse_args()
    pools = [int(p) for p in args.pools.split(",")]
    settings = Settings(intra_op_threads=1)
    cpus = os.cpu_count() or 1

    import ray

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = [make_clip(root / f"clip{i:02d}.mp4", frames=args.frames, seed=i) for i in range(args.clips)]
        tiny = make_clip(root / "tiny.mp4", frames=3, seed=99)  # a run of it is the fixed start
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
        port = 17000 + os.getpid() % 1000
        service = start_service(port, settings.model_path)
        runs: dict[str, list[float]] = {}
        try:
            service_fps(f"http://127.0.0.1:{port}", paths[:2], args.uploads)  # warm-ups: the service's,
            for pool in pools:  # and Ray's worker processes (a long run amortises their start)
                bulk_run(settings, paths[:2], pool, args, root / f"warm-{pool}")
            for r in range(args.rounds):
                url = f"http://127.0.0.1:{port}"
                runs.setdefault("service", []).append(service_fps(url, paths, args.uploads))
                for pool in pools:
                    frames, seconds = bulk_run(settings, paths, pool, args, root / f"out-{r}-{pool}")
                    _, start = bulk_run(settings, [tiny], pool, args, root / f"start-{r}-{pool}")
                    runs.setdefault(f"bulk {pool}", []).append(frames / seconds)
                    runs.setdefault(f"after {pool}", []).append(frames / (seconds - start))
                    runs.setdefault(f"start {pool}", []).append(start)
        finally:
            service.terminate()
            service.wait(timeout=60)
            ray.shutdown()
        rows, d1 = decoded_rows(settings, paths[0])
        a1 = actor_fps(settings, rows, args.batch_size)
        w = writer_rows_per_s(settings, root / "writer")
    report(args, pools, runs, d1, a1, w)


def report(args: argparse.Namespace, pools: list[int], runs: dict[str, list[float]], d1: float, a1: float,
           w: float) -> None:
    frames = args.clips * args.frames
    print(f"machine: {machine()}")
    print(f"corpus:  {args.clips} clips x {args.frames} frames, 1280x720 H.264 ~5 Mb/s, every frame "
          f"({frames} frames); medians of {args.rounds} rounds, alternating")
    service = statistics.median(runs["service"])
    print("| how | frames/s | x service | without the start | x service | start |")
    print("|---|---|---|---|---|---|")
    print(f"| service, {args.uploads} concurrent uploads | {service:.1f} | 1.00 | | | |")
    for pool in pools:
        fps, after, start = (statistics.median(runs[f"{k} {pool}"]) for k in ("bulk", "after", "start"))
        print(f"| bulk, {pool} predictor{'s' if pool > 1 else ''} (batch {args.batch_size}) | {fps:.1f} | "
              f"{fps / service:.2f} | {after:.1f} | {after / service:.2f} | {start:.1f} s |")
    per_actor = ", ".join(f"pool {p}: {statistics.median(runs[f'after {p}']) / p:.1f}" for p in pools)
    print(f"per actor, frames/s without the start: {per_actor}")
    print(f"alone: D1 one decode task {d1:.1f} frames/s; A1 one predictor at batch {args.batch_size} "
          f"{a1:.1f} frames/s (1 thread); W the driver's writer {w:,.0f} rows/s")
    share = d1 / (a1 + d1)
    print(f"cluster arithmetic (CPU nodes of C cores): predictors a and decode tasks C - a run at "
          f"min(a x A1, (C - a) x D1); best a = C x D1 / (A1 + D1) = {share:.2f} C, "
          f"node rate = C x A1 x D1 / (A1 + D1) = {a1 * d1 / (a1 + d1):.1f} x C frames/s")
    node = a1 * d1 / (a1 + d1)
    for c in (16, 64):
        actors = max(1, round(share * c))
        print(f"  a {c}-core node: {actors} predictor{'s' if actors > 1 else ''} + {c - actors} decode "
              f"tasks, ~{c * node:,.0f} frames/s; one driver's writer keeps up with "
              f"{w / (c * node):.0f} such nodes")
    gpu = f"; at --gpu-fps {args.gpu_fps:,.0f}: {args.gpu_fps / d1:.0f} decode CPUs" if args.gpu_fps else ""
    print(f"  GPU nodes: a GPU predictor at R frames/s needs R / D1 decode CPUs ({1000 / d1:.1f} per 1,000 "
          f"frames/s{gpu}); a 16-core node's decoders feed {16 * d1:,.0f} frames/s, "
          f"{16 * d1 / args.batch_size:.0f} batches of {args.batch_size} a second, to its GPUs")

if __name__ == "__main__":
    main()
