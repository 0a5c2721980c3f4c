"""The soft-labels stage: the ensemble's targets on the students' transfer frames, computed
once (the members' logits cached on disk, `training.softlabels.cache`; under DDP by rank 0,
the other ranks then reading its cache). The student's training reads these arrays on
every rank; no teacher runs in its epochs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from training.data.stage import SplitFrames
from training.distributed import main_first
from training.run import Run
from training.softlabels.cache import SoftLabelCache
from training.softlabels.targets import soft_targets
from training.teachers.members import Teacher


def stage_soft_labels(run: Run, frames: SplitFrames, teachers: Sequence[Teacher]) -> list[np.ndarray]:
    """The ensemble's targets on every view of the `transfer` frames (see `soft_targets`),
    cached: each view's on that view's frames, degraded as the student will see them."""
    cfg = run.config
    with main_first("the soft labels"):
        return soft_targets(label_cache(run, teachers), teachers, frames.transfer, cfg.seed,
                            cfg.softlabels.temperature, run.device)


def label_cache(run: Run, teachers: Sequence[Teacher]) -> SoftLabelCache:
    """The run's cache of the members' logits."""
    return SoftLabelCache(run.cache_dir / "softlabels", teachers, run.config.seed)
