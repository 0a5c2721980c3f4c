"""The members' logits on disk: one `.npy` file of (M, n, 2) logits per sample and
augmentation view, keyed by the sample's identity, the frame sampling (n, seed), the view's
augmentation seed and the members (their weight hashes and input sizes). A miss runs the
members (`training.softlabels.labelling`) on that sample's frames only."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from training.data.frameset import FrameSet, view_params
from training.data.stage import BySize
from training.softlabels.labelling import teacher_logits
from training.teachers.members import Teacher


class SoftLabelCache:
    """Member logits per (sample, view) under `root`; `hits`/`misses` count samples."""

    def __init__(self, root: Path, teachers: Sequence[Teacher], frames_seed: int) -> None:
        self.root = Path(root)
        self.members = [[t.key, t.digest, t.spec.size] for t in teachers]
        self.frames_seed = frames_seed
        self.hits = 0
        self.misses = 0

    def entry(self, key: str, n: int, aug_seed: int, view: int) -> Path:
        fields = [key, n, self.frames_seed, aug_seed, view, self.members]
        digest = hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:32]
        return self.root / digest[:2] / f"{digest}.npy"

    def member_logits(self, teachers: Sequence[Teacher], frames: BySize,
                      aug_seed: int, view: int, device: torch.device) -> np.ndarray:
        """(M, N, 2) logits of every member on view `view` of the frames (`frames[size]`:
        the same samples at each member's size), from the cache where present."""
        anyset = next(iter(frames.values()))
        counts = np.bincount(anyset.video, minlength=len(anyset.keys))
        entries = [self.entry(k, int(c), aug_seed, view) for k, c in zip(anyset.keys, counts, strict=True)]
        missing = [j for j, e in enumerate(entries) if not e.is_file()]
        self.misses += len(missing)
        self.hits += len(entries) - len(missing)
        if missing:
            rows = np.flatnonzero(np.isin(anyset.video, missing))
            fresh = np.stack([self._live(t, frames[t.spec.size], rows, aug_seed, view, device)
                              for t in teachers])
            for j in missing:
                _save(entries[j], fresh[:, anyset.video[rows] == j])
        out = np.concatenate([np.load(e) for e in entries], axis=1)
        return out.astype(np.float32)

    @staticmethod
    def _live(teacher: Teacher, frames: FrameSet, rows: np.ndarray, aug_seed: int, view: int,
              device: torch.device) -> np.ndarray:
        params = view_params(frames, aug_seed, view)[rows]
        return teacher_logits(teacher, frames.take(rows), params, device)


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npy")
    with os.fdopen(fd, "wb") as fh:
        np.save(fh, array, allow_pickle=False)
    os.replace(tmp, path)
