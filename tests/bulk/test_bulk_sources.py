"""What a bulk run screens: folders, manifests (the training readers' format), paths and URLs."""

from __future__ import annotations

import json

import pytest

from app.bulk.sources import SourceError, expand, open_video, video_id
from app.errors import EmptyUpload, MissingFile
from training.data.readers.manifest import read_manifest as training_manifest


def test_a_folder_is_every_file_under_it_sorted_without_hidden_ones(tmp_path):
    for name in ("b.mp4", "a.txt", "sub/c.webm", ".hidden.mp4", ".cache/d.mp4"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert [r.video_id for r in expand([str(tmp_path)])] == [
        str(tmp_path / n) for n in ("a.txt", "b.mp4", "sub/c.webm")]


def test_paths_and_file_urls_are_one_id_and_named_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.mp4").write_bytes(b"x")
    refs = expand(["a.mp4", (tmp_path / "a.mp4").as_uri(), str(tmp_path / "a.mp4"), "gone.mp4"])
    assert [r.video_id for r in refs] == [str(tmp_path / "a.mp4"), str(tmp_path / "gone.mp4")]
    assert video_id("s3://bucket/x.mp4") == "s3://bucket/x.mp4"


def test_a_manifest_reads_like_the_training_reader(tmp_path):
    (tmp_path / "clips").mkdir()
    for name in ("clips/a.mp4", "b.mp4"):
        (tmp_path / name).write_bytes(b"x")
    csv = tmp_path / "m.csv"
    csv.write_text(f"path,label,split,group\nclips/a.mp4,fake,train,g1\n{tmp_path / 'b.mp4'},0,,\n")
    jsonl = tmp_path / "m.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in [{"path": "clips/a.mp4", "label": "real"},
                                                       {"path": "s3://bucket/c.mp4"}]) + "\n")

    refs = expand([str(csv)])
    assert [r.video_id for r in refs] == [str(s.path) for s in training_manifest(csv)]
    assert [r.columns for r in refs] == [{"label": "fake", "split": "train", "group": "g1"},
                                         {"label": "0", "split": None, "group": None}]
    assert [(r.video_id, r.columns) for r in expand([str(jsonl)])] == [
        (str(tmp_path / "clips/a.mp4"), {"label": "real"}), ("s3://bucket/c.mp4", {"label": None})]


def test_a_manifest_without_paths_is_refused(tmp_path):
    (tmp_path / "m.csv").write_text("file,label\na.mp4,0\n")
    with pytest.raises(SourceError, match="no `path` column"):
        expand([str(tmp_path / "m.csv")])


def test_opening_names_the_services_codes(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(MissingFile), open_video(str(tmp_path / "gone.mp4")):
        pass
    with pytest.raises(EmptyUpload), open_video(str(tmp_path / "empty.mp4")):
        pass
    (tmp_path / "m.bin").write_bytes(b"abc")
    with open_video(str(tmp_path / "m.bin")) as f:
        assert f.read() == b"abc"
