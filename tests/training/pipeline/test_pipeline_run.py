"""Run folders: provenance in config.yaml, refusal to overwrite or mix configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from training.config import ConfigError, TeacherSpec, load_config
from training.data import Sample
from training.pipeline import RunError, data_hash, hint_for, load_run_config, start_run, write_config
from training.registry import NETS
from training.teachers import Teacher


def test_a_run_folder_is_resumed_only_when_asked_and_only_with_its_config(tmp_path: Path) -> None:
    config = load_config("smoke")
    run = start_run(config, tmp_path / "run", resume=False)
    write_config(run, "d" * 64)
    saved, provenance = load_run_config(tmp_path / "run")
    assert saved == config
    assert provenance["config_hash"] == config.digest() and provenance["data_hash"] == "d" * 64
    assert provenance["git_commit"]
    with pytest.raises(RunError, match="already holds a run; pass --resume"):
        start_run(config, tmp_path / "run", resume=False)
    assert start_run(config, tmp_path / "run", resume=True).dir == tmp_path / "run"
    with pytest.raises(RunError, match="was started with another config"):
        start_run(load_config("smoke", ["seed=1"]), tmp_path / "run", resume=True)
    assert "provenance" in yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())


def test_load_run_config_needs_a_run_folder(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="is not a run folder"):
        load_run_config(tmp_path)


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


def test_the_hint_teacher_must_be_a_member(tmp_path: Path) -> None:
    teacher = Teacher("srm_resnet", TeacherSpec("srm_resnet", size=48), NETS.build("srm_resnet"), "d")
    run = start_run(load_config("smoke", ["students.hint_teacher=srm_resnet"]), tmp_path, False)
    assert hint_for(run, [teacher]).size == 48
    other = Teacher("patchnet_s", TeacherSpec("patchnet_s"), NETS.build("patchnet_s"), "d")
    with pytest.raises(ValueError, match=r"'srm_resnet' is not a teacher; choices: \['patchnet_s'\]"):
        hint_for(run, [other])
    with pytest.raises(ConfigError, match="config.students.hint_teacher: 'resnet' is not a teacher; "
                                          "choices: mobilenetv2_100, efficientnet_lite0, srm_resnet$"):
        load_config("smoke", ["students.hint_teacher=resnet"])
    assert hint_for(start_run(load_config("smoke"), tmp_path, False), [teacher]) is None


@pytest.mark.parametrize(("transfer", "holdout"), [(None, 0.0), (3, 0.0), (None, 0.5)])
def test_students_fit_the_transfer_set_and_teachers_skip_the_holdout(
        tmp_path: Path, transfer: int | None, holdout: float) -> None:
    from training.data import load_dataset
    from training.data.synth import generate
    from training.pipeline import load_split_frames

    generate(tmp_path / "data", 12, size=(32, 32), frames=4, progress=False)
    overrides = ["data.frames_per_video=2", "data.eval_frames_per_video=1",
                 f"students.frames_per_video={'null' if transfer is None else transfer}",
                 f"teachers.holdout={holdout}"]
    run = start_run(load_config("smoke", overrides), tmp_path / "run", False)
    samples = load_dataset(tmp_path / "data")
    load_split_frames(run, samples)
    train = [s for s in samples if s.split == "train"]
    sizes = {m.size for m in run.config.teachers.members} | {s.size for s in run.config.students.nets}
    for size in sizes:
        taught = run.frames["train"][size]
        assert len(run.frames["transfer"][size]) == (transfer or 2) * len(train)
        assert len(run.frames["test"][size]) == sum(s.split == "test" for s in samples)
        assert len(taught) == 2 * len(taught.samples)
        assert {s.path for s in taught.samples} <= {s.path for s in train}
        kept = {s.group for s in taught.samples}
        if holdout:
            assert 0 < len(taught.samples) < len(train)
            assert not kept & {s.group for s in train if s not in taught.samples}
        else:
            assert list(taught.samples) == train
    assert (run.frames["transfer"] is run.frames["train"]) == (transfer is None and not holdout)


def test_unlabelled_clips_join_the_transfer_set_only_and_never_a_held_out_group(
        tmp_path: Path) -> None:
    from training.data import UNLABELLED
    from training.pipeline import load_split_frames, stage_data

    overrides = ["data.synth={videos: 12, frames: 4, size: 32, difficulty: 0.3, unlabelled: 40}",
                 "data.frames_per_video=2", "data.eval_frames_per_video=1",
                 "students.frames_per_video=2", "teachers.holdout=0.0"]
    run = start_run(load_config("smoke", overrides), tmp_path / "run", False)
    samples = stage_data(run)
    labelled = [s for s in samples if s.label != UNLABELLED]
    extra = [s for s in samples if s.label == UNLABELLED]
    assert len(labelled) == 12 and 0 < len(extra) < 40  # some share a val/test photo
    held_out = {s.group for s in labelled if s.split != "train"}
    assert all(s.split == "train" and s.group not in held_out for s in extra)
    assert {s.group for s in extra} & {s.group for s in labelled if s.split == "train"}
    load_split_frames(run, samples)
    size = run.config.students.nets[0].size
    transfer, taught = run.frames["transfer"][size], run.frames["train"][size]
    assert set(transfer.samples) == {s for s in samples if s.split == "train"}
    assert not set(taught.samples) & set(extra)
    unlabelled = transfer.labels == UNLABELLED
    assert unlabelled.sum() == 2 * len(extra)
    assert {transfer.samples[v] for v in transfer.video[unlabelled]} == set(extra)


def test_a_media_folder_is_unlabelled_transfer_data_and_never_labelled_data(
        tmp_path: Path) -> None:
    from training.data import UNLABELLED, DatasetError
    from training.data.synth import generate
    from training.pipeline import stage_data

    generate(tmp_path / "data", 8, size=(32, 32), frames=4, progress=False)
    (tmp_path / "traffic" / "day1").mkdir(parents=True)
    for name in ("000001.mp4", "000002.mp4"):
        (tmp_path / "traffic" / "day1" / name).write_bytes(
            (tmp_path / "data" / "videos" / name).read_bytes())
    run = start_run(load_config("smoke", [f"data.path={tmp_path / 'data'}",
                                          f"data.unlabelled={tmp_path / 'traffic'}"]),
                    tmp_path / "run", False)
    extra = [s for s in stage_data(run) if s.label == UNLABELLED]
    assert sorted(s.path.name for s in extra) == ["000001.mp4", "000002.mp4"]
    assert {s.split for s in extra} == {"train"}
    run = start_run(load_config("smoke", [f"data.path={tmp_path / 'traffic'}", "data.layout=media"]),
                    tmp_path / "run2", False)
    with pytest.raises(DatasetError, match="reads no labels; name such a folder in data.unlabelled"):
        stage_data(run)
