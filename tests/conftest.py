"""Shared fixtures: real encoded videos (PyAV) and a real ONNX model with a card."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import av
import numpy as np
import onnx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from training.baseline import build_baseline

MODEL_SIZE = 64

VideoFactory = Callable[..., Path]


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


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small set of real videos, shared by the whole session."""
    root = tmp_path_factory.mktemp("videos")
    return {
        "h264": encode_video(root / "clip.mp4"),
        "vp9": encode_video(root / "clip.webm", codec="libvpx-vp9", options={"deadline": "realtime"}),
        "mpeg4": encode_video(root / "clip.avi", codec="mpeg4"),
    }


@pytest.fixture
def make_video(tmp_path: Path) -> VideoFactory:
    """Encode a video into the test's tmp dir: make_video("name.mp4", frames=..., ...)."""

    def make(name: str, **kwargs: object) -> Path:
        return encode_video(tmp_path / name, **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The baseline architecture at 64x64, with a valid card."""
    path = tmp_path_factory.mktemp("models") / "test.onnx"
    onnx.save(build_baseline(size=MODEL_SIZE, name="test-model", version="1.2.3"), path)
    return path


@pytest.fixture
def settings(model_path: Path) -> Settings:
    return Settings(
        model_path=model_path,
        providers=["CPUExecutionProvider"],
        intra_op_threads=1,
        max_batch_size=8,
        max_wait_ms=2,
        warmup_batches=1,
        api_keys=[],
    )


def configured(settings: Settings, **updates: object) -> Settings:
    """`settings` with some fields changed, validated like the environment would be."""
    return Settings.model_validate(settings.model_dump() | updates)


def running_client(app: FastAPI) -> Iterator[TestClient]:
    """A TestClient with the lifespan run and the model warmed up."""
    with TestClient(app, raise_server_exceptions=False) as client:
        client.portal.call(app.state.ready.wait)
        yield client


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    yield from running_client(create_app(settings))
