"""training/losses/fitnets.py: hint regressor and MSE hint loss."""

import numpy as np
import pytest
import torch

from training.losses.fitnets import HintRegressor, hint_loss, resize


def test_hint_loss_is_the_mean_squared_difference() -> None:
    regressed = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    teacher = np.array([[[[0.0, 2.0], [5.0, 3.0]]]])
    # squared differences 1, 0, 4, 1 -> mean 6 / 4
    got = hint_loss(torch.tensor(regressed), torch.tensor(teacher))
    assert got.item() == pytest.approx(1.5)


def test_zero_when_the_maps_agree() -> None:
    x = torch.randn(2, 4, 3, 3)
    assert hint_loss(x, x.clone()).item() == 0.0


def test_resize_averages_areas_when_shrinking_and_interpolates_when_growing() -> None:
    x = torch.arange(16.0).view(1, 1, 4, 4)
    blocks = x.numpy()[0, 0].reshape(2, 2, 2, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(resize(x, (2, 2))[0, 0].numpy(), blocks)
    assert resize(x, (4, 4)) is x
    grown = resize(x, (8, 8))
    assert grown.shape == (1, 1, 8, 8)
    assert grown.min() >= 0 and grown.max() <= 15


@pytest.mark.parametrize("teacher_size", [4, 8, 16])
def test_regressor_maps_student_channels_and_size_onto_the_teacher(teacher_size: int) -> None:
    regressor = HintRegressor(student_channels=8, teacher_channels=24)
    out = regressor(torch.randn(2, 8, 8, 8), (teacher_size, teacher_size))
    assert out.shape == (2, 24, teacher_size, teacher_size)


def test_gradient_reaches_the_regressor_and_student_but_not_the_teacher() -> None:
    regressor = HintRegressor(8, 16)
    student = torch.randn(2, 8, 4, 4, requires_grad=True)
    teacher = torch.randn(2, 16, 2, 2, requires_grad=True)
    hint_loss(regressor(student, teacher.shape[-2:]), teacher).backward()
    assert regressor.conv.weight.grad is not None and regressor.conv.weight.grad.any()
    assert student.grad is not None and student.grad.any()
    assert teacher.grad is None


def test_shape_mismatch_is_named() -> None:
    with pytest.raises(ValueError, match=r"\(2, 8, 4, 4\) must match the teacher map \(2, 16, 4, 4\)"):
        hint_loss(torch.zeros(2, 8, 4, 4), torch.zeros(2, 16, 4, 4))
