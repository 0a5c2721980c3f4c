"""The ensemble's soft targets from its members' logits. With member weights w, the target
at temperature T is

    p_t^T = sum_m w_m softmax(z_m / T) / sum_m w_m      (`training.losses.teacher_probs`)

so T and w can change without running a teacher again."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from training.data.stage import Views
from training.losses import teacher_probs
from training.softlabels.cache import SoftLabelCache
from training.teachers.members import Teacher


def ensemble_probs(logits: np.ndarray, temperature: float,
                   weights: Sequence[float] | None = None) -> np.ndarray:
    """(N, 2) weighted mean of member probabilities at `temperature` of (M, N, 2) logits."""
    return teacher_probs(torch.from_numpy(logits), temperature, weights).numpy()


def ensemble_logits(logits: np.ndarray, weights: Sequence[float] | None = None) -> np.ndarray:
    """log of the ensemble's T=1 probabilities: logits whose softmax is the ensemble."""
    return np.log(np.clip(ensemble_probs(logits, 1.0, weights), 1e-12, None)).astype(np.float32)


def soft_targets(cache: SoftLabelCache, teachers: Sequence[Teacher], views: Views,
                 aug_seed: int, temperature: float, device: torch.device) -> list[np.ndarray]:
    """(N_v, 2) ensemble targets at `temperature` on each view v (`views[v][size]`: its
    frames at each member's size)."""
    weights = [t.spec.weight for t in teachers]
    return [ensemble_probs(cache.member_logits(teachers, frames, aug_seed, v, device), temperature,
                           weights)
            for v, frames in enumerate(views)]
