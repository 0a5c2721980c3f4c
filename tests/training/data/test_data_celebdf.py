import pytest

from training.data.readers import read_celebdf
from training.data.sample import DatasetError

VIDEOS = ["Celeb-real/id0_0000.mp4", "Celeb-real/id0_0001.mp4", "Celeb-real/id12_0000.mp4",
          "YouTube-real/00000.mp4", "YouTube-real/00001.mp4",
          "Celeb-synthesis/id0_id12_0000.mp4", "Celeb-synthesis/id12_id0_0000.mp4"]
TEST_LIST = "1 Celeb-real/id0_0001.mp4\n0 Celeb-synthesis/id12_id0_0000.mp4\n" \
            "1 YouTube-real/00001.mp4\n"


@pytest.fixture
def celebdf(tmp_path, place):
    for rel in VIDEOS:
        place(tmp_path / rel)
    (tmp_path / "List_of_testing_videos.txt").write_text(TEST_LIST)
    return tmp_path


def _index(samples, root):
    return {s.path.relative_to(root).as_posix(): s for s in samples}


def test_official_protocol(celebdf):
    s = _index(read_celebdf(celebdf), celebdf)
    assert sorted(s) == sorted(VIDEOS)
    assert {k for k, v in s.items() if v.split == "test"} == {
        "Celeb-real/id0_0001.mp4", "Celeb-synthesis/id12_id0_0000.mp4", "YouTube-real/00001.mp4"}
    assert {v.split for k, v in s.items() if v.split != "test"} == {"train"}
    # the list's "1 = real" is flipped into our 0 = authentic
    assert s["Celeb-real/id0_0001.mp4"].label == 0
    assert s["Celeb-synthesis/id12_id0_0000.mp4"].label == 1
    # grouped by the target identity: the fake sits with the original it came from
    assert s["Celeb-synthesis/id0_id12_0000.mp4"].group == s["Celeb-real/id0_0000.mp4"].group \
        == "celebdf:id0"
    assert s["Celeb-synthesis/id12_id0_0000.mp4"].group == "celebdf:id12"
    assert s["YouTube-real/00000.mp4"].group == "celebdf:yt00000"
    assert s["YouTube-real/00000.mp4"].source == "celebdf:YouTube-real"


def test_identity_protocol_leaves_splits_open(celebdf):
    assert {s.split for s in read_celebdf(celebdf, protocol="identity")} == {None}
    with pytest.raises(DatasetError, match="protocol must be one of"):
        read_celebdf(celebdf, protocol="mine")


@pytest.mark.parametrize("listing, match", [
    ("1 Celeb-real/id0_0001.mp4\n0 Celeb-real/id0_0000.mp4\n",
     r"line 2: label 0 \(1 = real\) contradicts folder Celeb-real"),
    ("1 Celeb-real/id9_0001.mp4\n", r"line 1: Celeb-real/id9_0001.mp4 is not among the videos"),
    ("real Celeb-real/id0_0001.mp4\n", r"line 1: expected '<0\|1> <path>'"),
])
def test_bad_test_list(celebdf, listing, match):
    (celebdf / "List_of_testing_videos.txt").write_text(listing)
    with pytest.raises(DatasetError, match=match):
        read_celebdf(celebdf)


def test_bad_file_name(celebdf, place):
    place(celebdf / "Celeb-synthesis/someone_0000.mp4")
    with pytest.raises(DatasetError, match="expected id<X>_<N>.mp4"):
        read_celebdf(celebdf)
