"""Ensemble soft targets, computed once and cached on disk.

For each sample and augmentation view the cache stores the members' logits (M, n, 2) in
one `.npy` file keyed by the sample's identity, the frame sampling (n, seed), the view's
augmentation seed and the members (their weight hashes and input sizes). The ensemble
target at temperature T with member weights w is then

    p_t^T = sum_m w_m softmax(z_m / T) / sum_m w_m      (`training.losses.teacher_probs`)

so T and w can change without running a teacher again. The student's training reads these
arrays; no teacher runs in its epochs.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from tqdm import tqdm

from training.datasets import FrameSet, to_tensor, view_params
from training.distill import predict_logits
from training.losses import teacher_probs
from training.prepare import BySize, SplitFrames
from training.run import Run
from training.teachers import Teacher

CHUNK = 64  # frames per ONNX Runtime call


def stage_soft_labels(run: Run, frames: SplitFrames, teachers: Sequence[Teacher]) -> np.ndarray:
    """The ensemble's targets on the `transfer` frames (see `soft_targets`), cached."""
    cfg = run.config
    return soft_targets(label_cache(run, teachers), teachers, frames.transfer, cfg.seed,
                        cfg.softlabels.views, cfg.softlabels.temperature, run.device)


def label_cache(run: Run, teachers: Sequence[Teacher]) -> SoftLabelCache:
    """The run's cache of the members' logits."""
    return SoftLabelCache(run.cache_dir / "softlabels", teachers, run.config.seed)


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


def teacher_logits(teacher: Teacher, frames: FrameSet, params: np.ndarray, device: torch.device
                   ) -> np.ndarray:
    """(N, 2) logits of `teacher` on `frames` under augmentation `params`.

    With an ONNX file (teachers trained on the CPU have one) the teacher runs in ONNX
    Runtime, about twice torch's frames/s on 2 cores, on the view rounded to uint8 (at most
    0.5/255 from the float view a student fits; view 0 is exact); else the torch net runs."""
    desc = f"labels {teacher.key}"
    if teacher.onnx is None:
        return predict_logits(teacher.net, frames, device, params, desc=desc)
    session = ort.InferenceSession(str(teacher.onnx), providers=["CPUExecutionProvider"])
    (name,) = [i.name for i in session.get_inputs()]
    out = [session.run(None, {name: _pixels(frames.frames[i : i + CHUNK], params[i : i + CHUNK])})[0]
           for i in tqdm(range(0, len(frames), CHUNK), desc=desc, leave=False, disable=None)]
    return np.concatenate(out) if out else np.zeros((0, 2), np.float32)


def _pixels(frames: np.ndarray, params: np.ndarray) -> np.ndarray:
    """uint8 NHWC frames of the view `params` (`to_tensor`'s augmentation, rounded)."""
    x = to_tensor(frames, params).mul(255).round().to(torch.uint8)
    return np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy())


def ensemble_probs(logits: np.ndarray, temperature: float,
                   weights: Sequence[float] | None = None) -> np.ndarray:
    """(N, 2) weighted mean of member probabilities at `temperature` of (M, N, 2) logits."""
    return teacher_probs(torch.from_numpy(logits), temperature, weights).numpy()


def ensemble_logits(logits: np.ndarray, weights: Sequence[float] | None = None) -> np.ndarray:
    """log of the ensemble's T=1 probabilities: logits whose softmax is the ensemble."""
    return np.log(np.clip(ensemble_probs(logits, 1.0, weights), 1e-12, None)).astype(np.float32)


def soft_targets(cache: SoftLabelCache, teachers: Sequence[Teacher], frames: BySize,
                 aug_seed: int, views: int, temperature: float, device: torch.device
                 ) -> np.ndarray:
    """(views, N, 2) ensemble targets at `temperature` for views 0..views-1."""
    weights = [t.spec.weight for t in teachers]
    return np.stack([
        ensemble_probs(cache.member_logits(teachers, frames, aug_seed, v, device), temperature,
                       weights)
        for v in range(views)
    ])


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npy")
    with os.fdopen(fd, "wb") as fh:
        np.save(fh, array, allow_pickle=False)
    os.replace(tmp, path)
