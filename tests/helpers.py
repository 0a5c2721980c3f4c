"""Test helpers shared across the tree: real encoded media and configured apps."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import Settings

MODEL_SIZE = 64


def encode_video(
    path: Path,
    frames: int = 48,
    size: tuple[int, int] = (160, 120),
    codec: str = "libx264",
    fps: int = 24,
    options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
    seed: int = 0,
) -> Path:
    """Encode `frames` frames of moving, noisy content; single-threaded like real files."""
    rng = np.random.default_rng(seed)
    width, height = size
    base = rng.integers(0, 256, (height * 2, width * 2, 3), dtype=np.uint8)
    with av.open(str(path), "w", options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p" if codec not in {"rawvideo", "png"} else "rgb24"
        stream.codec_context.thread_count = 1
        stream.options = options or {}
        for i in range(frames):
            crop = base[i % height : i % height + height, i % width : i % width + width]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(crop), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def png_bytes() -> bytes:
    """A real PNG image (FFmpeg reads it as a one-frame `png_pipe`)."""
    out = io.BytesIO()
    with av.open(out, "w", format="image2pipe") as container:
        stream = container.add_stream("png")
        stream.width, stream.height, stream.pix_fmt = 16, 16, "rgb24"
        container.mux(
            stream.encode(av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24"))
        )
        container.mux(stream.encode())
    return out.getvalue()


def wav_bytes() -> bytes:
    """A real WAV file: a container with audio and no video."""
    out = io.BytesIO()
    with av.open(out, "w", format="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return out.getvalue()


def configured(settings: Settings, **updates: object) -> Settings:
    """`settings` with some fields changed, validated like the environment would be."""
    return Settings.model_validate(settings.model_dump() | updates)


def running_client(app: FastAPI) -> Iterator[TestClient]:
    """A TestClient with the lifespan run and the model warmed up."""
    with TestClient(app, raise_server_exceptions=False) as client:
        client.portal.call(app.state.ready.wait)
        yield client
