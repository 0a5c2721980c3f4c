"""training/students/plan.py: the students' nets and losses, built when the run starts, are
those the stage built (same seeds, same order); a hint teacher sizes the FitNets term."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from training.config import Recipe, load_config
from training.data.frameset import FrameDataset, FrameSet
from training.entries import ModelEntry, Role
from training.loop import Hint, fit
from training.losses import LossSpec
from training.nets import NETS
from training.students.plan import exported_student, plan_students, student_loss

CPU = torch.device("cpu")


def test_the_plan_builds_each_student_after_seeding_with_its_seed() -> None:
    config = load_config("smoke")
    fits = plan_students(config)
    assert [(f.entry.label, f.folder, f.size, f.seed) for f in fits] == [
        ("student:patchnet_s", "distilled", 64, 100), ("undistilled:patchnet_s", "undistilled", 64, 100),
        ("student:patchnet_m", "distilled", 64, 101)]
    assert [f.distilled for f in fits] == [True, False, True]
    assert str(fits[0].loss) == str(student_loss(config.students.loss, 4.0, fits[0].net, None))
    assert list(fits[1].loss.terms) == ["ce"]
    for student in fits:
        torch.manual_seed(student.seed)
        fresh = NETS.build(student.entry.name)
        assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(),
                                                     student.net.state_dict().values(), strict=True))


def test_a_hint_teacher_sizes_the_fitnets_regressor() -> None:
    config = load_config("smoke", ["students.hint_teacher=srm_resnet", "students.loss.fitnets={weight: 1}"])
    regressor = plan_students(config)[0].loss.terms["fitnets"].regressor
    channels = NETS.build("srm_resnet").feature_channels[-1], NETS.build("patchnet_s").feature_channels[-1]
    assert regressor.conv.weight.shape[:2] == channels


def test_the_exported_student_is_the_named_one_or_the_first() -> None:
    assert exported_student(load_config("smoke")) == ModelEntry(Role.DISTILLED, "patchnet_s")
    other = exported_student(load_config("smoke", ["students.export=patchnet_m"]))
    assert other.label == "student:patchnet_m"


def test_feature_terms_run_a_live_hint_teacher(
    tmp_path: Path, frames: Callable[..., FrameSet]
) -> None:
    data = frames(videos=4, per_video=4)
    soft = [np.full((len(data), 2), 0.5, np.float32)]
    student, teacher = NETS.build("mobilenetv3_small_050"), NETS.build("srm_resnet").eval()
    spec = LossSpec.model_validate({"kd": {"weight": 0.5}, "ce": {"weight": 0.5}, "fitnets": {"weight": 1.0},
                                    "at": {"weight": 1.0}})
    loss = student_loss(spec, 3.0, student, teacher.feature_channels[-1])
    assert loss.terms["fitnets"].regressor.conv.weight.shape[:2] == (
        teacher.feature_channels[-1], student.feature_channels[-1])
    assert loss.terms["kd"].temperature == 3.0
    fit(student, loss, FrameDataset([data], 0, soft=soft), Recipe(1, 8, 1e-3), tmp_path, 0, CPU,
        "hint", hint=Hint(teacher, 16))
    assert (tmp_path / "model.pt").is_file()
    needs = r"loss term\(s\) \['at'\] read feature maps and need students.hint_teacher"
    with pytest.raises(ValueError, match=needs):
        student_loss(LossSpec.model_validate({"at": {"weight": 1.0}}), 4.0, student, None)
