"""training/softlabels/labelling.py: teachers label through their ONNX files as their torch
nets do."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from training.data.frameset import FrameSet
from training.data.stage import BySize
from training.softlabels.cache import SoftLabelCache
from training.teachers.members import Teacher
from training.teachers.stage import labelling_onnx

CPU = torch.device("cpu")
TwoSizes = Callable[[FrameSet], BySize]


@pytest.mark.parametrize("view", [0, 1])
def test_onnx_teachers_label_as_the_torch_nets_do(
    tmp_path: Path, teachers: list[Teacher], frames: Callable[..., FrameSet], view: int, two_sizes: TwoSizes
) -> None:
    big = frames(size=32)
    by_size = two_sizes(big)
    exported = []
    for t in teachers:
        labelling_onnx(t.net, t.spec.size, tmp_path / f"{t.key}.onnx")
        exported.append(replace(t, onnx=tmp_path / f"{t.key}.onnx"))
    torch_side = SoftLabelCache(tmp_path / "torch", teachers, 0)
    onnx_side = SoftLabelCache(tmp_path / "onnx", exported, 0)
    expected = torch_side.member_logits(teachers, by_size, 7, view, CPU)
    got = onnx_side.member_logits(exported, by_size, 7, view, CPU)
    # view 0 is the same uint8 input; view 1's float frames are rounded to uint8 for ONNX
    np.testing.assert_allclose(got, expected, atol=1e-4 if view == 0 else 2e-2)
