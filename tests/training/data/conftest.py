"""Tiny real media for the data tests: H.264 clips encoded with PyAV, PNG/JPEG images."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image


def encode_clip(path: Path, levels: Sequence[int], size: tuple[int, int] = (64, 64),
                codec: str = "libx264", options: dict[str, str] | None = None,
                fps: int = 25) -> Path:
    """A clip whose frame i is flat grey ``levels[i]`` with a small dark square that moves
    (so the encoder makes real P/B frames). ``size`` is (width, height)."""
    width, height = size
    path.parent.mkdir(parents=True, exist_ok=True)
    opts = {"crf": "12", "threads": "1"} if codec == "libx264" else {}
    opts.update(options or {})
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps), options=opts)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i, level in enumerate(levels):
            rgb = np.full((height, width, 3), level, np.uint8)
            x = (4 * i) % max(width - 8, 1)
            rgb[2:6, x:x + 4] = 0
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def index_levels(count: int) -> list[int]:
    """Grey levels that code the frame index: 20, 27, 34, ... (decode with ``level_index``)."""
    return [20 + 7 * i for i in range(count)]


def level_index(frame: np.ndarray) -> int:
    """The frame index coded by ``index_levels``, read from the frame's lower half."""
    return int(round((float(np.median(frame[frame.shape[0] // 2:])) - 20) / 7))


class Media:
    """The helpers above, handed to tests as the ``media`` fixture (conftest modules are
    not imported by name: another folder's conftest may own that name)."""

    encode_clip = staticmethod(encode_clip)
    index_levels = staticmethod(index_levels)
    level_index = staticmethod(level_index)


@pytest.fixture(scope="session")
def media() -> type[Media]:
    return Media


@pytest.fixture(scope="session")
def tiny_mp4(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """8 frames, 64x64, H.264 in mp4: copied wherever a fixture tree needs a video."""
    path = tmp_path_factory.mktemp("clip") / "tiny.mp4"
    return encode_clip(path, index_levels(8)).read_bytes()


@pytest.fixture
def place(tiny_mp4: bytes) -> Callable[..., Path]:
    """place(path): put the tiny clip (or, for .png/.jpg, a tiny image) at ``path``."""

    def _place(path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"):
            rng = np.random.default_rng(len(str(path)))
            Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(path)
        else:
            path.write_bytes(tiny_mp4)
        return path

    return _place


@pytest.fixture(scope="session")
def face_benchmark(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny built-in benchmark of face clips (8 clips x 8 frames, 192 px, half self-blended)."""
    from training.data.synth import generate

    root = tmp_path_factory.mktemp("faces")
    generate(root, 8, seed=0, size=(192, 192), frames=8, difficulty=0.3,
             fractions=(0.5, 0.25, 0.25), face_fraction=1.0, progress=False)
    return root
