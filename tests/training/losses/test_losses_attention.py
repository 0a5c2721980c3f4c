"""training/losses/attention.py: attention maps and attention transfer, by hand."""

import math

import numpy as np
import pytest
import torch

from training.losses.attention import attention_map, attention_transfer_loss


def test_attention_map_by_hand() -> None:
    # channel 0: [[1, 0], [0, 0]], channel 1: [[1, -2], [0, 0]]
    # Q = mean_c F^2 = [(1 + 1) / 2, (0 + 4) / 2, 0, 0] = [1, 2, 0, 0]; a = Q / sqrt(5)
    f = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]], [[1.0, -2.0], [0.0, 0.0]]]])
    expected = np.array([[1.0, 2.0, 0.0, 0.0]]) / math.sqrt(5.0)
    np.testing.assert_allclose(attention_map(f).numpy(), expected, rtol=1e-6)


def test_loss_by_hand() -> None:
    # a_s = [1, 0, 0, 0], a_t = [0, 1, 0, 0]: ||a_s - a_t||^2 = 2, over 4 positions = 0.5,
    # times beta / 2 = 500 -> 250 (the same for both samples)
    student = torch.tensor([[[[3.0, 0.0], [0.0, 0.0]]]]).repeat(2, 1, 1, 1)
    teacher = torch.tensor([[[[0.0, 0.5], [0.0, 0.0]]]]).repeat(2, 3, 1, 1)
    assert attention_transfer_loss(student, teacher, beta=1e3).item() == pytest.approx(250.0)
    assert attention_transfer_loss(student, teacher, beta=2.0).item() == pytest.approx(0.5)


def test_matches_numpy_with_p_and_different_channel_counts() -> None:
    rng = np.random.default_rng(0)
    fs, ft = rng.normal(size=(3, 5, 4, 4)), rng.normal(size=(3, 7, 4, 4))

    def att(f: np.ndarray, p: float) -> np.ndarray:
        q = (np.abs(f) ** p).mean(1).reshape(len(f), -1)
        return q / np.linalg.norm(q, axis=1, keepdims=True)

    for p in (1.0, 2.0, 4.0):
        expected = 1e3 / 2 * ((att(fs, p) - att(ft, p)) ** 2).mean()
        got = attention_transfer_loss(torch.tensor(fs), torch.tensor(ft), p=p)
        assert got.item() == pytest.approx(expected, rel=1e-10)


def test_larger_maps_are_area_averaged_to_the_smaller_size() -> None:
    rng = np.random.default_rng(1)
    fs, ft = rng.normal(size=(2, 3, 4, 4)), rng.normal(size=(2, 6, 2, 2))
    q = (fs**2).mean(1).reshape(2, 2, 2, 2, 2).mean(axis=(2, 4)).reshape(2, -1)
    a_s = q / np.linalg.norm(q, axis=1, keepdims=True)
    qt = (ft**2).mean(1).reshape(2, -1)
    a_t = qt / np.linalg.norm(qt, axis=1, keepdims=True)
    expected = 500.0 * ((a_s - a_t) ** 2).mean()
    for s, t in ((fs, ft), (ft, fs)):
        got = attention_transfer_loss(torch.tensor(s), torch.tensor(t))
        assert got.item() == pytest.approx(expected, rel=1e-10)


def test_zero_for_the_same_map_and_invariant_to_feature_scale() -> None:
    f = torch.randn(2, 4, 3, 3)
    assert attention_transfer_loss(f, f.clone()).item() == pytest.approx(0.0, abs=1e-6)
    g = torch.randn(2, 8, 3, 3)
    torch.testing.assert_close(attention_transfer_loss(f, 7.0 * g), attention_transfer_loss(f, g))


def test_teacher_gets_no_gradient() -> None:
    student = torch.randn(2, 4, 3, 3, requires_grad=True)
    teacher = torch.randn(2, 4, 3, 3, requires_grad=True)
    attention_transfer_loss(student, teacher).backward()
    assert student.grad is not None and teacher.grad is None


def test_bad_shapes_are_named() -> None:
    with pytest.raises(ValueError, match=r"batch sizes differ: student \(2, 4, 3, 3\)"):
        attention_transfer_loss(torch.zeros(2, 4, 3, 3), torch.zeros(3, 4, 3, 3))
    with pytest.raises(ValueError, match=r"must be \(N, C, H, W\), got \(4, 3, 3\)"):
        attention_map(torch.zeros(4, 3, 3))
