"""Frames in memory for training: samples -> sampled frames (through the `FrameCache`) ->
a torch `Dataset` with seeded, resolution-independent light augmentation.

Augmentation "views" are numbered: view 0 is the clean frame; view v > 0 draws, for each
frame, a horizontal flip and a brightness/contrast jitter from a generator seeded by
(run seed, v, sample key), on frames of the clip degraded by the view's draw when the run
degrades (`training.degrade`; the degradation is then part of the sample key). The same
view of the same sample is thus the same picture at any input size, which is what lets
teachers (at their size) label exactly the frames the student (at its size) later sees,
and lets the soft-label cache key on (sample, view).
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from training.data import FrameCache, Sample
from training.degrade import Degradation
from training.degrade.spec import describe
from training.distributed import progress

log = logging.getLogger(__name__)
JITTER = 0.1  # brightness and contrast factors are drawn from [1 - JITTER, 1 + JITTER]


@dataclass(frozen=True)
class FrameSet:
    """Sampled frames of some samples at one size: item i is frame i of the stacked clips.

    `video[i]` indexes `samples`; `keys[j]` identifies sample j's frames: the file on disk
    (path and mtime) and the degradation they were sampled after, if any."""

    frames: np.ndarray  # (N, H, W, 3) uint8
    labels: np.ndarray  # (N,) int64
    video: np.ndarray  # (N,) int64
    samples: tuple[Sample, ...]
    keys: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def size(self) -> int:
        return int(self.frames.shape[1])

    def take(self, rows: np.ndarray) -> FrameSet:
        """The frames at `rows` (indices), still indexing the same `samples`."""
        return FrameSet(self.frames[rows], self.labels[rows], self.video[rows], self.samples,
                        self.keys)


def sample_key(sample: Sample) -> str:
    """The identity of a sample's file: its absolute path, size and mtime."""
    path = Path(sample.path).absolute()
    stat = path.stat()
    return f"{path}:{stat.st_size}:{stat.st_mtime_ns}"


def load_frames(
    samples: Sequence[Sample], cache: FrameCache, n: int, size: int, seed: int,
    degradations: Sequence[Degradation] = (),
) -> FrameSet:
    """`n` frames of each sample at `size` x `size` (decoded once, then read from `cache`),
    after its degradation if `degradations` (one per sample) are given, one sample per CPU
    core at a time (PyAV releases the GIL while it decodes and encodes). A sample none of
    whose frames gave a face crop (`cache.faces`) is dropped, and counted in the log."""
    steps = list(degradations) or [()] * len(samples)
    if len(steps) != len(samples):
        raise ValueError(f"{len(steps)} degradations for {len(samples)} samples")
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        jobs = pool.map(lambda s, d: cache.get(s.path, n, size, seed, d), samples, steps)
        clips = list(progress(jobs, f"frames {size}px", total=len(samples), leave=False))
    kept = [i for i, clip in enumerate(clips) if len(clip)]
    if len(kept) < len(samples):
        log.info("faces: %d of %d clips dropped (no face in any sampled frame)",
                 len(samples) - len(kept), len(samples))
    counts = [len(clips[i]) for i in kept]
    return FrameSet(
        frames=np.concatenate([clips[i] for i in kept]) if kept else np.zeros((0, size, size, 3), np.uint8),
        labels=np.repeat([samples[i].label for i in kept], counts).astype(np.int64),
        video=np.repeat(np.arange(len(kept)), counts).astype(np.int64),
        samples=tuple(samples[i] for i in kept),
        keys=tuple(frames_key(samples[i], steps[i]) for i in kept),
    )


def frames_key(sample: Sample, degradation: Degradation = ()) -> str:
    """The identity of a sample's frames: its file's, and the degradation's if any."""
    return f"{sample_key(sample)}|{describe(degradation)}" if degradation else sample_key(sample)


def view_params(frames: FrameSet, seed: int, view: int) -> np.ndarray:
    """(N, 3) augmentation parameters of `view`: flip (0/1), brightness, contrast."""
    params = np.tile(np.array([0.0, 1.0, 1.0], np.float32), (len(frames), 1))
    if view == 0:
        return params
    for j, key in enumerate(frames.keys):
        rows = np.flatnonzero(frames.video == j)
        rng = np.random.default_rng([seed, view, zlib.crc32(key.encode())])
        params[rows, 0] = rng.integers(0, 2, len(rows))
        params[rows, 1:] = rng.uniform(1 - JITTER, 1 + JITTER, (len(rows), 2))
    return params


def to_tensor(frames: np.ndarray, params: np.ndarray | None = None) -> Tensor:
    """uint8 (N, H, W, 3) -> float RGB in [0, 1], NCHW, with `params` applied if given."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0
    if params is None:
        return x
    p = torch.from_numpy(np.asarray(params, np.float32)).view(-1, 3, 1, 1)
    x = torch.where(p[:, :1] > 0.5, x.flip(-1), x)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * p[:, 2:3] + mean * p[:, 1:2]).clamp(0.0, 1.0)


class FrameDataset(Dataset):
    """Items (frame tensor, label, soft target) of the current view: view v is `views[v]`
    under augmentation view v (`view_params`).

    `soft` holds one (N_v, 2) array of ensemble probabilities per view, or is None (hard
    labels only, whose items carry a zero soft target). `set_view(epoch)` selects view
    `epoch % len(views)`. `random_flip` mirrors each item with probability 1/2 on every
    draw, from torch's RNG (which `fit` seeds and checkpoints), on top of the view: the
    label and soft target are taken as unchanged by a mirror."""

    def __init__(
        self, views: Sequence[FrameSet], seed: int, soft: Sequence[np.ndarray] | None = None,
        random_flip: bool = False,
    ) -> None:
        if not views:
            raise ValueError("a FrameDataset needs at least one view")
        if soft is not None and [s.shape for s in soft] != [(len(f), 2) for f in views]:
            raise ValueError(f"soft targets {[s.shape for s in soft]} must be (N, 2) for each of the "
                             f"{len(views)} views of {[len(f) for f in views]} frames")
        self.views = tuple(views)
        self.params = [view_params(f, seed, v) for v, f in enumerate(self.views)]
        self.soft = soft
        self.random_flip = random_flip
        self.view = 0

    def set_view(self, epoch: int) -> None:
        self.view = epoch % len(self.views)

    def longest(self) -> int:
        """The frames of the largest view (views of face crops may differ in size)."""
        return max(len(f) for f in self.views)

    def __len__(self) -> int:
        return len(self.views[self.view])

    def __getitem__(self, i: int) -> tuple[Tensor, int, Tensor]:
        frames = self.views[self.view]
        x = to_tensor(frames.frames[i : i + 1], self.params[self.view][i : i + 1])[0]
        if self.random_flip and torch.rand(()) < 0.5:
            x = x.flip(-1)
        soft = torch.zeros(2) if self.soft is None else torch.from_numpy(self.soft[self.view][i])
        return x, int(frames.labels[i]), soft.float()
