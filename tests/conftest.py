"""Shared fixtures: real encoded videos (PyAV) and a real ONNX model with a card."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import onnx
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.baseline import build_baseline
from tests.helpers import MODEL_SIZE, encode_video, running_client

VideoFactory = Callable[..., Path]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session", autouse=True)
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Jobs' database and uploads in the session's tmp dir, never the user's data dir (what
    a test starts inherits the variable; `settings` and `start_service` give each their own)."""
    path = tmp_path_factory.mktemp("data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DISTILSCREEN_DATA_DIR", str(path))
        yield path


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


@pytest.fixture(scope="session")
def attention_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The baseline at 64x64 with an attention output (4 x 4 maps) declared in its card."""
    path = tmp_path_factory.mktemp("models") / "attention.onnx"
    onnx.save(build_baseline(size=MODEL_SIZE, name="looking", version="1", attention=True), path)
    return path


@pytest.fixture
def settings(model_path: Path, tmp_path: Path) -> Settings:
    return Settings(
        model_path=model_path,
        providers=["CPUExecutionProvider"],
        intra_op_threads=1,
        max_batch_size=8,
        max_wait_ms=2,
        warmup_batches=1,
        api_keys=[],
        data_dir=tmp_path / "data",  # the test's own jobs: none left by another test runs here
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    yield from running_client(create_app(settings))
