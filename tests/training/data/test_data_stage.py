"""training/data/stage.py: the data stage's samples, splits, frames and data hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.config import load_config
from training.data import UNLABELLED, DatasetError, Sample, load_dataset
from training.data.stage import data_hash, load_split_frames, split_samples, stage_data
from training.data.synth import generate
from training.run import start_run


def test_data_hash_follows_content_and_labels_not_order(tmp_path: Path) -> None:
    for name, content in (("a.mp4", b"one"), ("b.mp4", b"two")):
        (tmp_path / name).write_bytes(content)
    samples = [Sample(tmp_path / "a.mp4", 0, "train", "a", "t"),
               Sample(tmp_path / "b.mp4", 1, "test", "b", "t")]
    digest = data_hash(samples)
    assert digest == data_hash(samples[::-1])
    assert digest != data_hash([samples[0], Sample(tmp_path / "b.mp4", 0, "test", "b", "t")])
    (tmp_path / "b.mp4").write_bytes(b"changed")
    assert digest != data_hash(samples)


@pytest.mark.parametrize(("transfer", "holdout"), [(None, 0.0), (3, 0.0), (None, 0.5)])
def test_students_fit_the_transfer_set_and_teachers_skip_the_holdout(
        tmp_path: Path, transfer: int | None, holdout: float) -> None:

    generate(tmp_path / "data", 12, size=(32, 32), frames=4, progress=False)
    overrides = ["data.frames_per_video=2", "data.eval_frames_per_video=1",
                 f"students.frames_per_video={'null' if transfer is None else transfer}",
                 f"teachers.holdout={holdout}"]
    run = start_run(load_config("smoke", overrides), tmp_path / "run", False)
    samples = load_dataset(tmp_path / "data")
    frames = load_split_frames(run, samples)
    train = [s for s in samples if s.split == "train"]
    sizes = {m.size for m in run.config.teachers.members} | {s.size for s in run.config.students.nets}
    for size in sizes:
        taught = frames.train[0][size]
        assert len(frames.transfer[0][size]) == (transfer or 2) * len(train)
        assert len(frames.test[size]) == sum(s.split == "test" for s in samples)
        assert len(taught) == 2 * len(taught.samples)
        assert {s.path for s in taught.samples} <= {s.path for s in train}
        kept = {s.group for s in taught.samples}
        if holdout:
            assert 0 < len(taught.samples) < len(train)
            assert not kept & {s.group for s in train if s not in taught.samples}
        else:
            assert list(taught.samples) == train
    assert (frames.transfer[0] is frames.train[0]) == (transfer is None and not holdout)


def test_unlabelled_clips_join_the_transfer_set_only_and_never_a_held_out_group(
        tmp_path: Path) -> None:
    overrides = ["data.synth={videos: 12, frames: 4, size: 32, difficulty: 0.3, unlabelled: 40}",
                 "data.frames_per_video=2", "data.eval_frames_per_video=1",
                 "students.frames_per_video=2", "teachers.holdout=0.0"]
    run = start_run(load_config("smoke", overrides), tmp_path / "run", False)
    data = stage_data(run)
    samples = list(data.samples)
    labelled = [s for s in samples if s.label != UNLABELLED]
    extra = [s for s in samples if s.label == UNLABELLED]
    assert len(labelled) == 12 and 0 < len(extra) < 40  # some share a val/test photo
    held_out = {s.group for s in labelled if s.split != "train"}
    assert all(s.split == "train" and s.group not in held_out for s in extra)
    assert {s.group for s in extra} & {s.group for s in labelled if s.split == "train"}
    size = run.config.students.nets[0].size
    transfer, taught = data.frames.transfer[0][size], data.frames.train[0][size]
    assert set(transfer.samples) == {s for s in samples if s.split == "train"}
    assert not set(taught.samples) & set(extra)
    unlabelled = transfer.labels == UNLABELLED
    assert unlabelled.sum() == 2 * len(extra)
    assert {transfer.samples[v] for v in transfer.video[unlabelled]} == set(extra)


def test_a_media_folder_is_unlabelled_transfer_data_and_never_labelled_data(
        tmp_path: Path) -> None:
    generate(tmp_path / "data", 8, size=(32, 32), frames=4, progress=False)
    (tmp_path / "traffic" / "day1").mkdir(parents=True)
    for name in ("000001.mp4", "000002.mp4"):
        (tmp_path / "traffic" / "day1" / name).write_bytes(
            (tmp_path / "data" / "videos" / name).read_bytes())
    run = start_run(load_config("smoke", [f"data.path={tmp_path / 'data'}",
                                          f"data.unlabelled={tmp_path / 'traffic'}"]),
                    tmp_path / "run", False)
    extra = [s for s in split_samples(run) if s.label == UNLABELLED]
    assert sorted(s.path.name for s in extra) == ["000001.mp4", "000002.mp4"]
    assert {s.split for s in extra} == {"train"}
    run = start_run(load_config("smoke", [f"data.path={tmp_path / 'traffic'}", "data.layout=media"]),
                    tmp_path / "run2", False)
    with pytest.raises(DatasetError, match="reads no labels; name such a folder in data.unlabelled"):
        split_samples(run)
