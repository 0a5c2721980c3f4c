"""training/students/stage.py: the hint teacher runs live only as a member."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.config import ConfigError, TeacherSpec, load_config
from training.nets import NETS
from training.run import start_run
from training.students.stage import hint_for
from training.teachers.members import Teacher


def test_the_hint_teacher_must_be_a_member(tmp_path: Path) -> None:
    teacher = Teacher("srm_resnet", TeacherSpec("srm_resnet", size=48), NETS.build("srm_resnet"), "d")
    run = start_run(load_config("smoke", ["students.hint_teacher=srm_resnet"]), tmp_path, False)
    assert hint_for(run, (teacher,)).size == 48
    other = Teacher("patchnet_s", TeacherSpec("patchnet_s"), NETS.build("patchnet_s"), "d")
    with pytest.raises(ValueError, match=r"'srm_resnet' is not a teacher; choices: \['patchnet_s'\]"):
        hint_for(run, (other,))
    with pytest.raises(ConfigError, match="config.students.hint_teacher: 'resnet' is not a teacher; "
                                          "choices: mobilenetv2_100, efficientnet_lite0, srm_resnet$"):
        load_config("smoke", ["students.hint_teacher=resnet"])
    assert hint_for(start_run(load_config("smoke"), tmp_path, False), [teacher]) is None
