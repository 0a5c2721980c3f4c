"""What the benchmarks share: test clips, the service in a subprocess, D and I, the machine."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import httpx
import numpy as np

from app.config import Settings
from app.inference.engine import Engine
from app.video.decode import Limits, Sampling, VideoReader

ROOT = Path(__file__).resolve().parents[1]


def limits_of(settings: Settings) -> Limits:
    return Limits(
        settings.max_pixels,
        settings.max_duration_s,
        settings.decode_timeout_s,
        frozenset(settings.allowed_codecs),
    )


def make_clip(
    path: Path,
    frames: int = 300,
    width: int = 1280,
    height: int = 720,
    seed: int = 0,
    container_format: str | None = None,
    options: dict[str, str] | None = None,
    overlay: Callable[[int, np.ndarray], None] | None = None,
    codec: str = "libx264",
) -> Path:
    """A panning, textured scene with sensor noise, single-slice H.264 (or `codec`) at
    ~5 Mb/s, 30 fps; `overlay(i, view)` may draw on frame i before its noise."""
    rng = np.random.default_rng(seed)
    low = rng.integers(0, 256, (height // 8 + 40, width // 8 + 40, 3), dtype=np.uint8)
    scene = np.repeat(np.repeat(low, 8, axis=0), 8, axis=1)
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = options or {}
        stream.bit_rate = 5_000_000
        stream.codec_context.thread_count = 1  # one slice per frame, like real-world files
        for i in range(frames):
            x, y = (2 * i) % 300, i % 300
            view = scene[y : y + height, x : x + width].copy()
            if overlay is not None:
                overlay(i, view)
            view = view.astype(np.int16)
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


def end_to_end_fps(url: str, video: Path, options: dict[str, str] | None = None) -> tuple[float, int]:
    """E: frames screened / wall time of one upload over HTTP, upload included (every frame,
    with `options` on top)."""
    body = video.read_bytes()
    started = time.perf_counter()
    response = httpx.post(
        f"{url}/v1/screen",
        content=body,
        headers={"content-type": "video/mp4"},
        params={"max_frames": 10_000} | (options or {}),
        timeout=600,
    )
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    screened = response.json()["video"]["frames_screened"]
    return screened / elapsed, screened


def start_service(
    port: int, model: Path | None = None, env: dict[str, str] | None = None, root: Path = ROOT
) -> subprocess.Popen:
    """`distilscreen serve` on `port` (the model: `model`, else DISTILSCREEN_MODEL_PATH; `env`
    on top of ours), ready; `root`: the source tree whose `app` it runs."""
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
         *(["--model", str(model)] if model else [])],
        cwd=root,
        env=os.environ | {"PYTHONPATH": str(root)} | (env or {}),
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


# The service as configured (decoding in worker processes), and decoding in its own process.
IN_PROCESS = {"DISTILSCREEN_DECODE_WORKERS": "0"}


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
