import json

import pytest

from training.data.readers import read_dfdc
from training.data.sample import DatasetError


def _part(root, place, name, entries, present):
    part = root / name
    part.mkdir(parents=True)
    (part / "metadata.json").write_text(json.dumps(entries))
    for file in present:
        place(part / file)


def test_parts_grouped_by_original(tmp_path, place):
    _part(tmp_path, place, "dfdc_train_part_0", {
        "real1.mp4": {"label": "REAL", "split": "train", "original": None},
        "fakeA.mp4": {"label": "FAKE", "split": "train", "original": "real1.mp4"},
        "gone.mp4": {"label": "FAKE", "split": "train", "original": "real1.mp4"},
    }, ["real1.mp4", "fakeA.mp4"])
    _part(tmp_path, place, "dfdc_train_part_1", {
        "real2.mp4": {"label": "REAL", "split": "train", "original": None},
        "fakeB.mp4": {"label": "FAKE", "split": "train", "original": "real2.mp4"},
    }, ["real2.mp4", "fakeB.mp4"])
    with pytest.warns(UserWarning, match="1 video"):
        samples = read_dfdc(tmp_path)
    by = {s.path.name: s for s in samples}
    assert sorted(by) == ["fakeA.mp4", "fakeB.mp4", "real1.mp4", "real2.mp4"]
    assert by["fakeA.mp4"].group == by["real1.mp4"].group == "dfdc:real1"
    assert by["fakeB.mp4"].group == by["real2.mp4"].group == "dfdc:real2"
    assert (by["fakeA.mp4"].label, by["real1.mp4"].label) == (1, 0)
    assert by["fakeB.mp4"].source == "dfdc:dfdc_train_part_1"
    assert {s.split for s in samples} == {"train"}
    with pytest.warns(UserWarning):
        assert {s.split for s in read_dfdc(tmp_path, keep_split=False)} == {None}


def test_single_part_and_errors(tmp_path, place):
    _part(tmp_path, place, "p", {"a.mp4": {"label": "MAYBE"}}, ["a.mp4"])
    with pytest.raises(DatasetError, match="entry 'a.mp4': expected 0/1/real/fake"):
        read_dfdc(tmp_path / "p")
    (tmp_path / "p/metadata.json").write_text("{broken")
    with pytest.raises(DatasetError, match="invalid JSON"):
        read_dfdc(tmp_path / "p")
    with pytest.raises(DatasetError, match="no metadata.json"):
        read_dfdc(tmp_path / "nothing")
