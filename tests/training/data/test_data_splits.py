from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.data.sample import SPLITS, Sample
from training.data.splits import UnionFind, crossing_groups, split_by_group


def _sample(i: int, group: str, split: str | None = None, label: int = 0) -> Sample:
    return Sample(Path(f"/d/{i}.mp4"), label, split, group, "test")


# Each group either has no given split or one given split for some of its members.
datasets = st.lists(
    st.tuples(st.integers(0, 30), st.sampled_from([None, None, "train", "val", "test"]),
              st.booleans()),
    min_size=1, max_size=120,
).map(lambda rows: [
    _sample(i, f"g{g}", split if keep else None)
    for i, (g, split, keep) in enumerate(rows)
]).map(lambda samples: _one_given_split_per_group(samples))


def _one_given_split_per_group(samples: list[Sample]) -> list[Sample]:
    first: dict[str, str] = {}
    out = []
    for s in samples:
        if s.split:
            first.setdefault(s.group, s.split)
            s = Sample(s.path, s.label, first[s.group], s.group, s.source)
        out.append(s)
    return out


fractions = st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)).filter(
    lambda f: sum(f) > 0.01)


@settings(max_examples=150, deadline=None)
@given(samples=datasets, fractions=fractions, seed=st.integers(0, 2**16))
def test_no_group_crosses_splits(samples, fractions, seed):
    out = split_by_group(samples, fractions, seed)
    assert [s.path for s in out] == [s.path for s in samples]
    assert all(s.split in SPLITS for s in out)
    assert crossing_groups(out) == {}
    for before, after in zip(samples, out, strict=True):
        if before.split:
            assert after.split == before.split  # given splits are kept
    free_splits = {s.split for s, b in zip(out, samples, strict=True)
                   if not any(x.split for x in samples if x.group == b.group)}
    assert all(fractions[SPLITS.index(split)] > 0 for split in free_splits)
    assert split_by_group(samples, fractions, seed) == out  # deterministic


def test_fractions_are_met_by_sample_count():
    samples = [_sample(i, f"g{i // 4}") for i in range(400)]
    out = split_by_group(samples, (0.7, 0.2, 0.1), seed=1)
    counts = Counter(s.split for s in out)
    assert counts == {"train": 280, "val": 80, "test": 40}
    assert split_by_group(samples, (0.7, 0.2, 0.1), seed=2) != out
    assert Counter(s.split for s in split_by_group(samples, (1, 0, 0), seed=1)) == {"train": 400}


def test_given_splits_pull_their_group_and_count_toward_targets():
    samples = [_sample(0, "a", "test"), _sample(1, "a"), _sample(2, "b"), _sample(3, "c")]
    out = split_by_group(samples, (0.5, 0.0, 0.5), seed=0)
    assert [s.split for s in out] == ["test", "test", "train", "train"]
    reassigned = split_by_group(samples, (1, 0, 0), seed=0, keep_given=False)
    assert {s.split for s in reassigned} == {"train"}


def test_groups_the_data_already_splits_are_kept_and_reported():
    samples = [_sample(0, "a", "train"), _sample(1, "a", "test"), _sample(2, "a", "test"),
               _sample(3, "a")]
    with pytest.warns(UserWarning, match="1 group"):
        out = split_by_group(samples, seed=0)
    assert [s.split for s in out] == ["train", "test", "test", "test"]


@pytest.mark.parametrize("bad", [(0.5, 0.5), (0, 0, 0), (1, -0.1, 0.1)])
def test_bad_fractions(bad):
    with pytest.raises(ValueError, match="fractions must be 3 non-negative"):
        split_by_group([_sample(0, "a")], bad)


def test_union_find_names_sets_by_smallest_member():
    uf = UnionFind()
    uf.union("003", "000")
    uf.union("007", "005")
    uf.union("005", "003")
    assert {uf.find(x) for x in ("000", "003", "005", "007")} == {"000"}
    assert uf.find("009") == "009"
