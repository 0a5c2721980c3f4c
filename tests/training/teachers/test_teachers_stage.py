"""training/teachers/stage.py: a member is trained or loaded, and a user's checkpoint kept."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from training.config import TeachersConfig, TeacherSpec
from training.data.frameset import FrameSet
from training.nets import NETS
from training.teachers.stage import train_teachers

CPU = torch.device("cpu")


def test_a_user_checkpoint_with_zero_epochs_is_used_as_is(
    tmp_path: Path, frames: Callable[..., FrameSet]
) -> None:
    source = NETS.build("srm_resnet")
    torch.save(source.state_dict(), tmp_path / "mine.pt")
    config = TeachersConfig(epochs=5, members=(
        TeacherSpec("srm_resnet", size=32, checkpoint=str(tmp_path / "mine.pt"), epochs=0),))
    (teacher,) = train_teachers(config, ({32: frames()},), tmp_path / "run", 0, CPU)
    assert teacher.key == "srm_resnet" and len(teacher.digest) == 16
    assert all(torch.equal(a, b) for a, b in zip(source.state_dict().values(),
                                                 teacher.net.state_dict().values(), strict=True))
    assert not (tmp_path / "run" / "teachers" / "srm_resnet" / "last.pt").exists()
    (again,) = train_teachers(config, ({32: frames()},), tmp_path / "run", 0, CPU)
    assert again.digest == teacher.digest
