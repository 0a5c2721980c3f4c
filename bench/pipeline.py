"""Service pipeline benchmark: is one upload screened at the speed decode and inference allow?

In one run, on one video (default: a generated 720p H.264 clip of 300 frames at ~5 Mb/s),
measure
  D  decode + resize-only frames/s (the service's own decoder, every frame),
  I  inference-only frames/s (the service's engine, batches of max_batch_size),
  E  end-to-end frames/s of the same upload to the service over real HTTP,
and print E / B, where B = 1 / (1/D + 1/I) when inference shares the CPU cores with
decoding, min(D, I) when it runs on a GPU. Each figure is the median of --repeats runs.

    python bench/pipeline.py [--video clip.mp4] [--url http://host:port] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import httpx
import numpy as np

from app.config import Settings
from app.inference.engine import Engine
from app.video.decode import Limits, Sampling, VideoReader

ROOT = Path(__file__).resolve().parents[1]


def make_clip(path: Path, frames: int = 300, width: int = 1280, height: int = 720, seed: int = 0) -> Path:
    """A panning, textured 720p scene with sensor noise, single-slice H.264 at ~5 Mb/s."""
    rng = np.random.default_rng(seed)
    low = rng.integers(0, 256, (height // 8 + 40, width // 8 + 40, 3), dtype=np.uint8)
    scene = np.repeat(np.repeat(low, 8, axis=0), 8, axis=1)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = 5_000_000
        stream.codec_context.thread_count = 1  # one slice per frame, like real-world files
        for i in range(frames):
            x, y = (2 * i) % 300, i % 300
            view = scene[y : y + height, x : x + width].astype(np.int16)
            view += rng.integers(-6, 7, view.shape, dtype=np.int16)
            frame = av.VideoFrame.from_ndarray(np.clip(view, 0, 255).astype(np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def decode_fps(video: Path, engine: Engine, limits: Limits) -> tuple[float, np.ndarray]:
    """D: every frame decoded and scaled to the model's input size, nothing else."""
    spec = engine.card.input
    pixel_format = "rgb24" if spec.color == "RGB" else "bgr24"
    started = time.perf_counter()
    with video.open("rb") as source, VideoReader(source, limits) as reader:
        frames = [
            f.pixels
            for f in reader.frames(Sampling(max_frames=10**9), (spec.width, spec.height), pixel_format)
        ]
    return len(frames) / (time.perf_counter() - started), np.stack(frames)


def inference_fps(engine: Engine, frames: np.ndarray, batch_size: int) -> float:
    """I: the engine alone (preprocessing + ONNX Runtime), in batches of `batch_size`."""
    started = time.perf_counter()
    for i in range(0, len(frames), batch_size):
        engine.predict(frames[i : i + batch_size])
    return len(frames) / (time.perf_counter() - started)


def end_to_end_fps(url: str, video: Path) -> tuple[float, int]:
    """E: frames screened / wall time of one upload over HTTP, upload included."""
    body = video.read_bytes()
    started = time.perf_counter()
    response = httpx.post(
        f"{url}/v1/screen",
        content=body,
        headers={"content-type": "video/mp4"},
        params={"max_frames": 10_000},
        timeout=600,
    )
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    screened = response.json()["video"]["frames_screened"]
    return screened / elapsed, screened


def start_service(port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("the service did not become ready in 120 s")


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, help="video to use (default: a generated 720p clip)")
    parser.add_argument("--url", help="a running service (default: start one with the DISTILSCREEN_* env)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    settings = Settings()
    engine = Engine.from_settings(settings)
    limits = Limits(
        settings.max_pixels,
        settings.max_duration_s,
        settings.decode_timeout_s,
        frozenset(settings.allowed_codecs),
    )
    video = args.video or make_clip(Path(tempfile.mkdtemp()) / "bench-720p.mp4")
    service = None if args.url else start_service(port := 18000 + os.getpid() % 1000)
    url = args.url or f"http://127.0.0.1:{port}"
    try:
        end_to_end_fps(url, video)  # warm both sides once
        d_runs, i_runs, e_runs = [], [], []
        for _ in range(args.repeats):  # interleaved, so drift on a shared machine hits all three
            d, frames = decode_fps(video, engine, limits)
            d_runs.append(d)
            i_runs.append(inference_fps(engine, frames, settings.max_batch_size))
            e, screened = end_to_end_fps(url, video)
            e_runs.append(e)
    finally:
        if service is not None:
            service.terminate()
            service.wait()
    d, i, e = (statistics.median(r) for r in (d_runs, i_runs, e_runs))
    on_gpu = engine.providers[0] != "CPUExecutionProvider"
    bound = min(d, i) if on_gpu else 1 / (1 / d + 1 / i)
    with av.open(str(video)) as c:
        s = c.streams.video[0]
        facts = (
            f"{s.codec_context.name} {s.codec_context.width}x{s.codec_context.height}, {screened} frames, "
            f"{video.stat().st_size * 8 / float(s.duration * s.time_base) / 1e6:.1f} Mb/s"
        )
    print(f"machine:   {machine()}")
    card = engine.card
    print(
        f"model:     {card.name} {card.version} @ {card.input.width}x{card.input.height}"
        f" on {engine.providers}, batch {settings.max_batch_size}"
    )
    print(f"video:     {facts}")
    print(f"D decode+resize  {d:8.1f} frames/s   runs {[round(x, 1) for x in d_runs]}")
    print(f"I inference      {i:8.1f} frames/s   runs {[round(x, 1) for x in i_runs]}")
    rule = "min(D, I): GPU" if on_gpu else "1/(1/D + 1/I): shared CPU"
    print(f"B bound          {bound:8.1f} frames/s   ({rule})")
    print(f"E end-to-end     {e:8.1f} frames/s   runs {[round(x, 1) for x in e_runs]}")
    print(f"E / B = {e / bound:.3f}   (target >= 0.85)")


if __name__ == "__main__":
    main()
