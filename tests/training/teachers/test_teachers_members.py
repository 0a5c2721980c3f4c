"""training/teachers/members.py: unique folders, user checkpoints."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from training.config import TeachersConfig, TeacherSpec
from training.nets import NETS
from training.registry import UnknownNameError
from training.teachers.members import build_teacher, load_state_dict, member_keys

CPU = torch.device("cpu")


def test_member_keys_are_unique() -> None:
    config = TeachersConfig(members=(TeacherSpec("srm_resnet"), TeacherSpec("mobilenetv2_100"),
                                     TeacherSpec("srm_resnet"), TeacherSpec("srm_resnet")))
    assert member_keys(config) == ["srm_resnet", "mobilenetv2_100", "srm_resnet-2", "srm_resnet-3"]


@pytest.mark.parametrize("wrap", [lambda sd: sd, lambda sd: {"model": sd},
                                  lambda sd: {"state_dict": sd, "epoch": 3}])
def test_user_checkpoints_load_bare_or_wrapped(tmp_path: Path, wrap: Callable) -> None:
    source = NETS.build("mobilenetv3_small_050")
    torch.save(wrap(source.state_dict()), tmp_path / "mine.pt")
    net = build_teacher(TeacherSpec("mobilenetv3_small_050", checkpoint=str(tmp_path / "mine.pt")))
    assert all(torch.equal(a, b) for a, b in zip(source.state_dict().values(),
                                                 net.state_dict().values(), strict=True))


def test_missing_checkpoint_and_unknown_names_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="teacher checkpoint .*nope.pt does not exist"):
        load_state_dict(tmp_path / "nope.pt")
    with pytest.raises(UnknownNameError, match="choices: .*srm_resnet"):
        build_teacher(TeacherSpec("resnet50"))
