import json

import pytest

from training.data.readers import ManifestError, read_manifest
from training.data.sample import DatasetError


@pytest.fixture
def media(tmp_path, place):
    for rel in ["v/a.mp4", "v/b.mp4", "img/seq1/0001.png"]:
        place(tmp_path / rel)
    return tmp_path


def test_csv_with_words_numbers_and_defaults(media):
    (media / "m.csv").write_text(
        "path,label,split,group,extra\n"
        "v/a.mp4,real,train,person1,x\n"
        "v/b.mp4,1,,,y\n"
        "\n"
        "img/seq1/0001.png,Synthetic,validation,,z\n")
    a, b, img = read_manifest(media / "m.csv")
    assert (a.label, a.split, a.group, a.source) == (0, "train", "person1", "manifest")
    assert (b.label, b.split, b.group) == (1, None, "b")  # group defaults to the stem
    assert (img.label, img.split, img.group) == (1, "val", "img/seq1")  # sequence folder
    assert a.path == (media / "v/a.mp4").absolute()


def test_jsonl(media):
    rows = [{"path": "v/a.mp4", "label": 0, "group": "g", "source": "mine"},
            {"path": "v/b.mp4", "label": "fake", "split": "test"}]
    (media / "m.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    a, b = read_manifest(media / "m.jsonl")
    assert (a.label, a.split, a.group, a.source) == (0, None, "g", "mine")
    assert (b.label, b.split, b.group) == (1, "test", "b")


@pytest.mark.parametrize("body, match", [
    ("path,label\nv/a.mp4,0\nv/b.mp4,maybe\n", r"line 3, column 'label': expected 0/1/real"),
    ("path,label,split\nv/a.mp4,0,holdout\n", r"line 2, column 'split': expected one of"),
    ("path,label\nv/a.mp4,0\nv/missing.mp4,1\n", r"line 3, column 'path': file not found"),
    ("path,label\n,1\n", r"line 2, column 'path': empty"),
    ("file,label\nv/a.mp4,0\n", r"line 1, column 'path': header lacks \['path'\]"),
    ("path,label\nv/a.mp4,0,extra\n", r"line 2: 3 fields, header has 2"),
])
def test_csv_errors_name_line_and_column(media, body, match):
    (media / "m.csv").write_text(body)
    with pytest.raises(ManifestError, match=match):
        read_manifest(media / "m.csv")


@pytest.mark.parametrize("body, match", [
    ('{"path": "v/a.mp4", "label": 0}\n{"path": "v/b.mp4", "label": 1\n',
     r"line 2: invalid JSON"),
    ('["v/a.mp4", 0]\n', r"line 1: expected a JSON object, got list"),
    ('{"path": "v/a.mp4"}\n', r"line 1, column 'label': missing"),
    ('{"path": "v/a.mp4", "label": true}\n', r"line 1, column 'label'"),
])
def test_jsonl_errors_name_line_and_column(media, body, match):
    (media / "m.jsonl").write_text(body)
    with pytest.raises(ManifestError, match=match):
        read_manifest(media / "m.jsonl")


def test_missing_files_allowed_when_not_checked(tmp_path):
    (tmp_path / "m.csv").write_text("path,label\nnowhere.mp4,0\n")
    (sample,) = read_manifest(tmp_path / "m.csv", check_exists=False)
    assert sample.path.name == "nowhere.mp4"


def test_other_extensions_and_empty(tmp_path):
    (tmp_path / "m.txt").write_text("path,label\n")
    with pytest.raises(DatasetError, match=r"\.csv or \.jsonl"):
        read_manifest(tmp_path / "m.txt")
    (tmp_path / "m.csv").write_text("path,label\n")
    with pytest.raises(DatasetError, match="no rows"):
        read_manifest(tmp_path / "m.csv")
