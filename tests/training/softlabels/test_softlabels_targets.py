"""training/softlabels/targets.py: the ensemble target is the weighted mean of member
probabilities at T, for every view."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from training.data.frameset import FrameSet
from training.data.stage import BySize
from training.softlabels.cache import SoftLabelCache
from training.softlabels.targets import ensemble_logits, ensemble_probs, soft_targets
from training.teachers.members import Teacher

CPU = torch.device("cpu")
TwoSizes = Callable[[FrameSet], BySize]


def test_ensemble_target_is_the_weighted_mean_at_temperature() -> None:
    logits = np.array([[[2.0, 0.0], [0.0, 0.0]], [[0.0, 4.0], [1.0, -1.0]]], np.float32)
    probs = ensemble_probs(logits, temperature=2.0, weights=[1.0, 3.0])
    # member a: softmax([1, 0]) = [0.7311, 0.2689], [0.5, 0.5]; member b: softmax([0, 2]),
    # softmax([0.5, -0.5]) = [0.1192, 0.8808], [0.7311, 0.2689]; weights 0.25 / 0.75
    np.testing.assert_allclose(probs, [[0.272167, 0.727833], [0.673294, 0.326706]], atol=1e-6)
    np.testing.assert_allclose(np.exp(ensemble_logits(logits)).sum(1), 1.0, atol=1e-6)


def test_soft_targets_stack_the_views(
    tmp_path: Path, teachers: list[Teacher], frames: Callable[..., FrameSet], two_sizes: TwoSizes
) -> None:
    big = frames(size=32)
    by_size = two_sizes(big)
    cache = SoftLabelCache(tmp_path, teachers, 0)
    targets = soft_targets(cache, teachers, (by_size, by_size), aug_seed=0, temperature=4.0,
                           device=CPU)
    assert [t.shape for t in targets] == [(len(big), 2)] * 2
    np.testing.assert_allclose(np.sum(targets, -1), 1.0, atol=1e-6)
    view1 = cache.member_logits(teachers, by_size, 0, 1, CPU)
    np.testing.assert_allclose(targets[1], ensemble_probs(view1, 4.0, [1.0, 3.0]), atol=1e-6)
