"""Shared by the training tests: one CPU thread (the machine is shared), a fixed seed, tiny
in-memory frame sets (no video decoding), and the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from training.data import Sample
from training.data.frameset import FrameSet


@pytest.fixture(autouse=True)
def _one_thread_seeded() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def _frame_set(videos: int = 4, per_video: int = 3, size: int = 32, seed: int = 0) -> FrameSet:
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
    return _frame_set


def _cli(*args: str) -> subprocess.CompletedProcess:
    root = Path(__file__).resolve().parents[2]
    env = os.environ | {"PYTHONPATH": str(root), "TQDM_DISABLE": "1"}
    return subprocess.run([sys.executable, "-m", "training.cli", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="session")
def cli() -> Callable[..., subprocess.CompletedProcess]:
    """cli(*args): `python -m training.cli ARGS` from the repository root, as CI runs it."""
    return _cli


@pytest.fixture(scope="session")
def distill_preset(cli: Callable[..., subprocess.CompletedProcess]) -> Callable[[str, Path], None]:
    """distill_preset(name, out): run preset `name` into `out` through the command line (its
    wall time is a benchmark's business: the run prints it)."""

    def run(name: str, out: Path) -> None:
        done = cli("distill", name, "--out", str(out))
        assert done.returncode == 0, done.stderr[-3000:]

    return run
