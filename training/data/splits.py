"""Group-wise splitting: samples of one group (source video, identity) share a split."""

from __future__ import annotations

import dataclasses
import random
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from training.data.sample import SPLITS, Sample


class UnionFind:
    """Disjoint sets of string ids; ``find`` names a set by its smallest member."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}

    def find(self, item: str) -> str:
        parent = self._parent.setdefault(item, item)
        if parent != item:
            parent = self._parent[item] = self.find(parent)
        return parent

    def union(self, *items: str) -> None:
        roots = sorted({self.find(item) for item in items})
        for other in roots[1:]:
            self._parent[other] = roots[0]


def groups_by_split(samples: Iterable[Sample]) -> dict[str, set[str | None]]:
    """group -> the set of splits its samples are in (a leak-free dataset has one each)."""
    out: dict[str, set[str | None]] = defaultdict(set)
    for sample in samples:
        out[sample.group].add(sample.split)
    return dict(out)


def crossing_groups(samples: Iterable[Sample]) -> dict[str, set[str | None]]:
    """Groups whose samples sit in more than one split."""
    return {g: s for g, s in groups_by_split(samples).items() if len(s) > 1}


def split_by_group(samples: Sequence[Sample], fractions: Sequence[float] = (0.8, 0.1, 0.1),
                   seed: int = 0, keep_given: bool = True) -> list[Sample]:
    """Fill in every sample's split, group by group, never frame by frame.

    Splits the dataset already gives are kept (unless ``keep_given`` is False). A group
    with given splits pulls its unassigned samples into its given split (the one holding
    most of its samples, if the dataset itself puts the group in several: that crossing
    is the dataset's and is warned about, never created here). The remaining groups are
    shuffled with ``seed`` and dealt, largest first, to the split furthest below its
    share ``fractions`` (train, val, test) of all samples. Returns new samples, same order.
    """
    if len(fractions) != len(SPLITS) or any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise ValueError(f"fractions must be {len(SPLITS)} non-negative numbers (train, val, "
                         f"test) with a positive sum, got {tuple(fractions)}")
    if not keep_given:
        samples = [dataclasses.replace(s, split=None) for s in samples]
    members: dict[str, list[int]] = defaultdict(list)
    for index, sample in enumerate(samples):
        members[sample.group].append(index)
    counts = Counter(s.split for s in samples if s.split is not None)
    decided: dict[str, str] = {}
    free: list[str] = []
    crossing = 0
    for group in sorted(members):
        given = Counter(samples[i].split for i in members[group] if samples[i].split)
        if not given:
            free.append(group)
            continue
        crossing += len(given) > 1
        decided[group] = min(given, key=lambda s: (-given[s], SPLITS.index(s)))
        counts[decided[group]] += sum(1 for i in members[group] if samples[i].split is None)
    if crossing:
        warnings.warn(f"{crossing} group(s) already span several splits in the given data; "
                      "kept as given", stacklevel=2)
    total = sum(fractions)
    target = {s: f / total * len(samples) for s, f in zip(SPLITS, fractions, strict=True)}
    open_splits = [s for s in SPLITS if target[s] > 0]
    rng = random.Random(seed)
    rng.shuffle(free)
    for group in sorted(free, key=lambda g: -len(members[g])):  # stable: ties keep shuffle
        split = max(open_splits, key=lambda s: (target[s] - counts[s], -SPLITS.index(s)))
        decided[group] = split
        counts[split] += len(members[group])
    return [s if s.split else dataclasses.replace(s, split=decided[s.group]) for s in samples]
