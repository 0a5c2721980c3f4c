from pathlib import Path

import pytest

from training.data.readers import load_dataset, read_folder
from training.data.sample import DatasetError, Sample


def _by_name(samples: list[Sample], root: Path) -> dict[str, Sample]:
    return {s.path.relative_to(root).as_posix(): s for s in samples}


def test_videos_and_image_sequences(tmp_path, place):
    for rel in ["real/000.mp4", "real/more/001.mkv", "real/seqA/0001.png", "real/seqA/0002.png",
                "real/single.jpg", "fake/000.mp4", "fake/x.webm", "fake/seqB/f1.jpeg"]:
        place(tmp_path / rel)
    (tmp_path / "real" / "notes.txt").write_text("not media")
    samples = _by_name(read_folder(tmp_path), tmp_path)
    assert sorted(samples) == sorted(["real/000.mp4", "real/more/001.mkv", "real/seqA/0001.png",
                                      "real/seqA/0002.png", "real/single.jpg", "fake/000.mp4",
                                      "fake/x.webm", "fake/seqB/f1.jpeg"])
    assert samples["real/000.mp4"].label == 0 and samples["fake/000.mp4"].label == 1
    # a video is grouped by its stem: the fake made from 000 shares 000's group
    assert samples["real/000.mp4"].group == samples["fake/000.mp4"].group == "000"
    assert samples["real/more/001.mkv"].group == "001"
    # image sequences by their folder, loose images by their stem
    assert samples["real/seqA/0001.png"].group == samples["real/seqA/0002.png"].group == "seqA"
    assert samples["real/single.jpg"].group == "single"
    assert samples["fake/seqB/f1.jpeg"].group == "seqB"
    assert {s.split for s in samples.values()} == {None}
    assert samples["fake/x.webm"].source == "folder:fake"
    assert all(s.path.is_absolute() for s in samples.values())


def test_split_folders_above_classes(tmp_path, place):
    for rel in ["train/real/a.mp4", "train/fake/a.mp4", "test/real/b.mp4", "val/fake/c.mp4"]:
        place(tmp_path / rel)
    samples = _by_name(read_folder(tmp_path), tmp_path)
    assert {k: s.split for k, s in samples.items()} == {
        "train/real/a.mp4": "train", "train/fake/a.mp4": "train",
        "test/real/b.mp4": "test", "val/fake/c.mp4": "val"}


def test_empty_tree_is_an_error(tmp_path):
    (tmp_path / "real").mkdir()
    with pytest.raises(DatasetError, match="no media found"):
        read_folder(tmp_path)


def test_media_layout_reads_every_file_unlabelled_and_is_never_guessed(tmp_path, place):
    for rel in ["a.mp4", "day2/b.mkv", "seq/0001.png", "seq/0002.png"]:
        place(tmp_path / rel)
    (tmp_path / "notes.txt").write_text("not media")
    samples = _by_name(load_dataset(tmp_path, "media"), tmp_path)
    assert sorted(samples) == ["a.mp4", "day2/b.mkv", "seq/0001.png", "seq/0002.png"]
    assert {s.label for s in samples.values()} == {-1}
    assert {s.split for s in samples.values()} == {None}
    assert samples["day2/b.mkv"].group == "b" and samples["seq/0002.png"].group == "seq"
    with pytest.raises(DatasetError, match="layout not recognised"):
        load_dataset(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no media found"):
        load_dataset(tmp_path / "empty", "media")
