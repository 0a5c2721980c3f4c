import json

import pytest

from training.data import DatasetError, detect_layout, load_dataset


@pytest.mark.parametrize("files, layout", [
    (["original_sequences/youtube/c23/videos/000.mp4"], "ffpp"),
    (["Celeb-real/id0_0000.mp4", "Celeb-synthesis/id0_id1_0000.mp4"], "celebdf"),
    (["dfdc_train_part_3/a.mp4"], "dfdc"),
    (["real/a.mp4", "fake/a.mp4"], "folder"),
    (["train/real/a.mp4"], "folder"),
])
def test_detects_each_layout(tmp_path, place, files, layout):
    for rel in files:
        place(tmp_path / rel)
    if layout == "dfdc":
        (tmp_path / "dfdc_train_part_3/metadata.json").write_text(
            json.dumps({"a.mp4": {"label": "REAL", "split": "train", "original": None}}))
    assert detect_layout(tmp_path) == (layout, tmp_path)
    samples = load_dataset(tmp_path)
    assert len(samples) == len(files)


def test_manifest_file_or_folder(tmp_path, place):
    place(tmp_path / "v/a.mp4")
    place(tmp_path / "real/b.mp4")  # a manifest in the folder wins over the tree
    (tmp_path / "manifest.csv").write_text("path,label\nv/a.mp4,fake\n")
    assert detect_layout(tmp_path) == ("manifest", tmp_path / "manifest.csv")
    assert [s.path.name for s in load_dataset(tmp_path)] == ["a.mp4"]
    assert [s.label for s in load_dataset(tmp_path / "manifest.csv")] == [1]
    assert [s.path.name for s in load_dataset(tmp_path, layout="manifest")] == ["a.mp4"]
    assert [s.path.name for s in load_dataset(tmp_path, layout="folder")] == ["b.mp4"]


def test_reader_options_pass_through(tmp_path, place):
    place(tmp_path / "original_sequences/youtube/c40/videos/000.mp4")
    assert len(load_dataset(tmp_path, compression="c40")) == 1


def test_unknown(tmp_path):
    (tmp_path / "stuff").mkdir()
    with pytest.raises(DatasetError, match=r"layout not recognised.*found \['stuff'\]"):
        load_dataset(tmp_path)
    choices = "auto, celebdf, dfdc, ffpp, folder, manifest, media"
    with pytest.raises(DatasetError, match=f"unknown layout 'kinetics'; choices: {choices}"):
        load_dataset(tmp_path, layout="kinetics")
    with pytest.raises(DatasetError, match="no such file or directory"):
        load_dataset(tmp_path / "missing")
