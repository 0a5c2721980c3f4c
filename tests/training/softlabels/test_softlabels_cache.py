"""training/softlabels/cache.py: the cache and a live teacher pass agree; entries are keyed
by sample, view and members."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from tests.helpers import encode_frames
from training.data import FrameCache, Sample
from training.data.frameset import FrameSet, load_frames, sample_key, to_tensor, view_params
from training.data.stage import BySize
from training.degrade import Encode, Rescale
from training.softlabels.cache import SoftLabelCache
from training.teachers.members import Teacher

CPU = torch.device("cpu")
TwoSizes = Callable[[FrameSet], BySize]


def test_cache_agrees_with_a_live_teacher_pass(
    tmp_path: Path, teachers: list[Teacher], frames: Callable[..., FrameSet], two_sizes: TwoSizes
) -> None:
    big = frames(size=32)
    by_size = two_sizes(big)
    cache = SoftLabelCache(tmp_path, teachers, frames_seed=0)
    cached = cache.member_logits(teachers, by_size, aug_seed=7, view=1, device=CPU)
    assert cached.shape == (2, len(big), 2) and (cache.misses, cache.hits) == (4, 0)
    with torch.no_grad():
        live = [t.net(to_tensor(by_size[t.spec.size].frames,
                                view_params(by_size[t.spec.size], 7, 1))).numpy()
                for t in teachers]
    np.testing.assert_allclose(cached, np.stack(live), atol=1e-4)
    again = cache.member_logits(teachers, by_size, aug_seed=7, view=1, device=CPU)
    assert (cache.misses, cache.hits) == (4, 4)
    np.testing.assert_array_equal(again, cached)


def test_only_new_samples_and_changed_members_miss(
    tmp_path: Path, teachers: list[Teacher], frames: Callable[..., FrameSet], two_sizes: TwoSizes
) -> None:
    big = frames(videos=4, size=32)
    SoftLabelCache(tmp_path, teachers, 0).member_logits(
        teachers, two_sizes(big), 0, 1, CPU)
    more = frames(videos=5, size=32)
    cache = SoftLabelCache(tmp_path, teachers, 0)
    cache.member_logits(teachers, two_sizes(more), 0, 1, CPU)
    assert (cache.misses, cache.hits) == (1, 4)
    retrained = [teachers[0], replace(teachers[1], digest="new weights")]
    cache = SoftLabelCache(tmp_path, retrained, 0)
    cache.member_logits(retrained, two_sizes(more), 0, 1, CPU)
    assert (cache.misses, cache.hits) == (5, 0)
    cache.member_logits(retrained, two_sizes(more), 0, 2, CPU)
    assert cache.misses == 10


def test_soft_labels_are_computed_on_the_degraded_frames(
        tmp_path: Path, teachers: list[Teacher]) -> None:
    """Two runs that differ only in their degradation share a soft-label cache: the second
    must label its own frames, not read the first's entries."""
    rng = np.random.default_rng(0)
    clip = encode_frames(tmp_path / "c.mp4", [rng.integers(0, 256, (48, 64, 3), np.uint8)] * 6)
    samples = [Sample(clip, 1, "train", "c", "test")]
    frames_cache = FrameCache(tmp_path / "frames")
    labels = SoftLabelCache(tmp_path / "labels", teachers, frames_seed=0)
    for crf in (45, 20):
        degradations = [(Rescale(0.5), Encode("h264", crf))]
        view = {t.spec.size: load_frames(samples, frames_cache, 4, t.spec.size, 0, degradations)
                for t in teachers}
        assert view[32].keys != (sample_key(samples[0]),)
        logits = labels.member_logits(teachers, view, aug_seed=0, view=1, device=CPU)
        with torch.no_grad():
            live = [t.net(to_tensor(view[t.spec.size].frames, view_params(view[t.spec.size], 0, 1))).numpy()
                    for t in teachers]
        np.testing.assert_allclose(logits, np.stack(live), atol=1e-4)
    assert (labels.misses, labels.hits) == (2, 0)
