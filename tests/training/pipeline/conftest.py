"""Shared fixtures for the pipeline tests: one CPU thread (the machine is shared), fixed
seed, and tiny in-memory frame sets (no video decoding)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from training.data import Sample
from training.datasets import FrameSet


def make_frames(videos: int = 4, per_video: int = 3, size: int = 32, seed: int = 0) -> FrameSet:
    """Random frames of `videos` fake clips, labels alternating 0/1 by clip."""
    rng = np.random.default_rng(seed)
    samples = tuple(
        Sample(Path(f"/data/clip{j}.mp4"), j % 2, "train", f"g{j}", "test") for j in range(videos)
    )
    return FrameSet(
        frames=rng.integers(0, 256, (videos * per_video, size, size, 3), dtype=np.uint8),
        labels=np.repeat([s.label for s in samples], per_video).astype(np.int64),
        video=np.repeat(np.arange(videos), per_video).astype(np.int64),
        samples=samples,
        keys=tuple(f"/data/clip{j}.mp4:1000:{j}" for j in range(videos)),
    )


@pytest.fixture
def frames() -> Callable[..., FrameSet]:
    return make_frames
