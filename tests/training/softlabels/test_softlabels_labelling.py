"""training/softlabels/labelling.py: teachers label through the contract's predictor on
their carded ONNX files, with the logits a plain ONNX Runtime session gives (the soft
labels are those of before, bit for bit), and as their torch nets do."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from app.contract.predictor import Predictor
from training.data.frameset import FrameSet, view_params
from training.data.stage import BySize
from training.softlabels.cache import SoftLabelCache
from training.softlabels.labelling import CHUNK, teacher_logits, view_pixels
from training.teachers.members import Teacher
from training.teachers.stage import labelling_onnx

CPU = torch.device("cpu")
TwoSizes = Callable[[FrameSet], BySize]


def test_the_labelling_file_carries_a_card_the_predictor_accepts(tmp_path: Path, teachers: list[Teacher]
                                                               ) -> None:
    teacher = teachers[0]
    path = labelling_onnx(teacher.net, teacher.key, teacher.spec.size, tmp_path / "a.onnx")
    card = Predictor.load(path, ["CPUExecutionProvider"]).card
    assert (card.name, card.input.height, card.input.width, card.input.dtype) == ("a", 32, 32, "uint8")
    assert card.calibration.temperature == 1.0


@pytest.mark.parametrize("view", [0, 1])
def test_the_predictor_gives_a_plain_sessions_logits_bit_for_bit(
    tmp_path: Path, teachers: list[Teacher], frames: Callable[..., FrameSet], view: int
) -> None:
    teacher, data = teachers[0], frames(videos=30, size=32)  # 90 frames: two chunks
    teacher = replace(teacher, onnx=labelling_onnx(teacher.net, "a", 32, tmp_path / "a.onnx"))
    params = view_params(data, 7, view)
    session = ort.InferenceSession(str(teacher.onnx), providers=["CPUExecutionProvider"])
    plain = np.concatenate([
        session.run(None, {"frames": view_pixels(data.frames[i : i + CHUNK], params[i : i + CHUNK])})[0]
        for i in range(0, len(data), CHUNK)])
    np.testing.assert_array_equal(teacher_logits(teacher, data, params, CPU), plain)


@pytest.mark.parametrize("view", [0, 1])
def test_onnx_teachers_label_as_the_torch_nets_do(
    tmp_path: Path, teachers: list[Teacher], frames: Callable[..., FrameSet], view: int, two_sizes: TwoSizes
) -> None:
    big = frames(size=32)
    by_size = two_sizes(big)
    exported = []
    for t in teachers:
        labelling_onnx(t.net, t.key, t.spec.size, tmp_path / f"{t.key}.onnx")
        exported.append(replace(t, onnx=tmp_path / f"{t.key}.onnx"))
    torch_side = SoftLabelCache(tmp_path / "torch", teachers, 0)
    onnx_side = SoftLabelCache(tmp_path / "onnx", exported, 0)
    expected = torch_side.member_logits(teachers, by_size, 7, view, CPU)
    got = onnx_side.member_logits(exported, by_size, 7, view, CPU)
    # view 0 is the same uint8 input; view 1's float frames are rounded to uint8 for ONNX
    np.testing.assert_allclose(got, expected, atol=1e-4 if view == 0 else 2e-2)
