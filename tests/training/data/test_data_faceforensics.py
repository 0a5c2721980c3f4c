import json

import pytest

from training.data.readers import read_faceforensics
from training.data.sample import DatasetError
from training.data.splits import crossing_groups, split_by_group

ORIGINALS = ["000", "003", "001", "002", "004"]
FAKES = {"Deepfakes": ["000_003", "003_000", "001_002"], "Face2Face": ["000_003", "004_001"],
         "NeuralTextures": ["002_001"]}


@pytest.fixture
def ffpp(tmp_path, place):
    for comp in ("c23", "c40"):
        for vid in ORIGINALS:
            place(tmp_path / f"original_sequences/youtube/{comp}/videos/{vid}.mp4")
    for method, vids in FAKES.items():
        for vid in vids:
            place(tmp_path / f"manipulated_sequences/{method}/c23/videos/{vid}.mp4")
    place(tmp_path / "manipulated_sequences/Deepfakes/c40/videos/000_003.mp4")
    return tmp_path


def test_groups_join_target_and_source(ffpp):
    samples = read_faceforensics(ffpp)
    assert len(samples) == 5 + 6
    group = {(s.source, s.path.stem): s.group for s in samples}
    # 000_003 links 000 and 003; 001_002, 004_001 and 002_001 link 001, 002 and 004
    assert {group["ffpp:youtube", "000"], group["ffpp:youtube", "003"],
            group["ffpp:Deepfakes", "000_003"], group["ffpp:Deepfakes", "003_000"],
            group["ffpp:Face2Face", "000_003"]} == {"ffpp:000"}
    assert {group["ffpp:youtube", v] for v in ("001", "002", "004")} == {"ffpp:001"}
    assert group["ffpp:NeuralTextures", "002_001"] == "ffpp:001"
    labels = {s.path.stem: s.label for s in samples if s.source == "ffpp:youtube"}
    assert set(labels.values()) == {0}
    assert {s.label for s in samples if s.source != "ffpp:youtube"} == {1}
    assert {s.split for s in samples} == {None}


def test_compression_and_methods(ffpp):
    c40 = read_faceforensics(ffpp, compression="c40")
    assert len(c40) == 6 and all("/c40/" in s.path.as_posix() for s in c40)
    only = read_faceforensics(ffpp, methods=("Face2Face",))
    assert {s.source for s in only} == {"ffpp:youtube", "ffpp:Face2Face"}
    with pytest.raises(DatasetError, match="compression must be one of"):
        read_faceforensics(ffpp, compression="c99")
    with pytest.raises(DatasetError, match="unknown FF\\+\\+ methods \\['DeepFake'\\]"):
        read_faceforensics(ffpp, methods=("DeepFake",))
    with pytest.raises(DatasetError, match=r"no FF\+\+ videos at compression 'raw'.*c23"):
        read_faceforensics(ffpp, compression="raw")


def test_official_split_lists(ffpp):
    (ffpp / "splits").mkdir()
    (ffpp / "splits/train.json").write_text(json.dumps([["000", "003"]]))
    (ffpp / "splits/test.json").write_text(json.dumps([["001", "002"], ["004", "999"]]))
    split = {(s.source, s.path.stem): s.split for s in read_faceforensics(ffpp)}
    assert split["ffpp:youtube", "003"] == split["ffpp:Deepfakes", "003_000"] == "train"
    assert split["ffpp:youtube", "004"] == split["ffpp:Face2Face", "004_001"] == "test"


def test_group_split_never_separates_a_fake_from_its_originals(ffpp):
    samples = split_by_group(read_faceforensics(ffpp), (0.5, 0.25, 0.25), seed=3)
    assert crossing_groups(samples) == {}
    assert all(s.split for s in samples)
