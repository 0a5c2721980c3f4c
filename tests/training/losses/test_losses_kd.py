"""training/losses/kd.py: Hinton et al.'s distillation loss, against hand/numpy values."""

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from training.losses.kd import kd_divergence, kd_loss, labelled_cross_entropy, teacher_probs

LN2 = math.log(2.0)


def _softmax(z: np.ndarray, t: float = 1.0) -> np.ndarray:
    e = np.exp(z / t - (z / t).max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_hand_computed_values() -> None:
    # p_s = (1/2, 1/2) at every T; p_t = (1, 0): KL = 1 * ln(1 / (1/2)) = ln 2
    z = torch.zeros(1, 2)
    pt = torch.tensor([[1.0, 0.0]])
    assert kd_divergence(z, pt, 1.0).item() == pytest.approx(LN2)
    assert kd_divergence(z, pt, 2.0).item() == pytest.approx(4 * LN2)  # T^2 = 4
    # CE(y=0, (1/2, 1/2)) = ln 2; a = 1/4, T = 2: 1/4 * 4 ln 2 + 3/4 * ln 2
    y = torch.tensor([0])
    assert kd_loss(z, pt, y, 2.0, 0.25).item() == pytest.approx(1.75 * LN2)


def test_unlabelled_items_add_nothing_to_the_cross_entropy() -> None:
    # CE(y=0, (1/2, 1/2)) = ln 2 and CE(y=1, softmax(0, ln 3)) = ln(4/3); -1 is unlabelled
    z = torch.tensor([[0.0, 0.0], [5.0, -5.0], [0.0, math.log(3.0)]], requires_grad=True)
    loss = labelled_cross_entropy(z, torch.tensor([0, -1, 1]))
    assert loss.item() == pytest.approx((LN2 + math.log(4 / 3)) / 2)
    loss.backward()
    assert z.grad[1].abs().max() == 0 and z.grad[0].abs().max() > 0
    none = labelled_cross_entropy(z, torch.tensor([-1, -1, -1]))
    assert none.item() == 0.0 and none.requires_grad


def test_matches_numpy_on_a_batch() -> None:
    zs = np.array([[1.0, -0.5], [0.2, 0.3], [-2.0, 1.5]])
    zt = np.array([[2.0, -1.0], [0.0, 0.0], [-1.0, 3.0]])
    y = np.array([0, 1, 1])
    t, a = 3.0, 0.7
    ps, pt = _softmax(zs, t), _softmax(zt, t)
    kl = (pt * (np.log(pt) - np.log(ps))).sum(1).mean()
    ce = -np.log(_softmax(zs)[np.arange(3), y]).mean()
    expected = a * t**2 * kl + (1 - a) * ce

    targets = teacher_probs(torch.tensor(zt), t)
    np.testing.assert_allclose(targets.numpy(), pt, rtol=1e-12)
    got = kd_loss(torch.tensor(zs), targets, torch.tensor(y), t, a)
    assert got.item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("t", [1.0, 2.0, 4.0, 8.0])
def test_gradient_is_t_times_the_probability_gap(t: float) -> None:
    """d/dz_s [T^2 KL(p_t^T || p_s^T)] = T (p_s^T - p_t^T), per sample; / N for the mean."""
    zs = torch.tensor([[1.0, -0.5, 0.3], [0.2, 0.3, -1.0]], dtype=torch.float64, requires_grad=True)
    pt = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], dtype=torch.float64)
    kd_divergence(zs, pt, t).backward()
    expected = t * (F.softmax(zs.detach() / t, dim=1) - pt) / 2
    torch.testing.assert_close(zs.grad, expected, rtol=1e-12, atol=1e-15)


def test_t_squared_keeps_the_gradient_magnitude_independent_of_t() -> None:
    """At high T the gradient tends to (z_s - z_t) / (C N) for zero-mean logits, with an
    O(1/T) error: the T^2 factor leaves no 1/T^2 shrinkage."""
    zs = torch.tensor([[0.6, -0.2, -0.4]], dtype=torch.float64)
    zt = torch.tensor([[-0.3, 0.5, -0.2]], dtype=torch.float64)
    limit = (zs - zt) / 3
    errors = []
    for t in (5.0, 20.0, 80.0):
        z = zs.clone().requires_grad_(True)
        kd_divergence(z, teacher_probs(zt, t), t).backward()
        errors.append(float((z.grad - limit).abs().max()))
    assert errors[0] < 0.01 and errors[1] < errors[0] / 3.5 and errors[2] < errors[1] / 3.5


def test_alpha_limits() -> None:
    zs = torch.tensor([[1.0, -0.5], [0.2, 0.3]])
    pt = torch.tensor([[0.9, 0.1], [0.3, 0.7]])
    y = torch.tensor([1, 0])
    assert torch.equal(kd_loss(zs, pt, y, 4.0, 1.0), kd_divergence(zs, pt, 4.0))
    assert torch.equal(kd_loss(zs, pt, y, 4.0, 0.0), F.cross_entropy(zs, y))
    other = torch.tensor([[0.5, 0.5], [0.5, 0.5]])
    assert torch.equal(kd_loss(zs, pt, y, 4.0, 0.0), kd_loss(zs, other, y, 4.0, 0.0))


def test_zero_loss_and_zero_gradient_when_the_student_is_the_teacher() -> None:
    z = torch.tensor([[1.0, -0.5], [3.0, 0.3]], requires_grad=True)
    loss = kd_divergence(z, teacher_probs(z, 2.0), 2.0)
    loss.backward()
    assert abs(loss.item()) < 1e-6
    assert z.grad.abs().max() < 1e-6


def test_teacher_side_is_a_constant() -> None:
    zt = torch.tensor([[1.0, -0.5]], requires_grad=True)
    probs = teacher_probs(zt, 2.0)
    assert not probs.requires_grad


def test_ensemble_targets_are_the_weighted_mean_of_member_probabilities() -> None:
    members = np.array([[[1.0, 0.0], [0.0, 2.0]], [[-1.0, 1.0], [0.5, 0.5]]])  # (M=2, N=2, C=2)
    t = 2.0
    p = _softmax(members, t)
    got = teacher_probs(torch.tensor(members), t)
    np.testing.assert_allclose(got.numpy(), p.mean(0), rtol=1e-12)
    weighted = teacher_probs(torch.tensor(members), t, weights=[3.0, 1.0])
    np.testing.assert_allclose(weighted.numpy(), 0.75 * p[0] + 0.25 * p[1], rtol=1e-12)
    np.testing.assert_allclose(weighted.sum(1).numpy(), [1.0, 1.0], rtol=1e-12)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: teacher_probs(torch.zeros(2, 2), 0.0), r"temperature must be > 0, got 0.0"),
        (lambda: teacher_probs(torch.zeros(2), 1.0), r"\(N, C\) or \(M, N, C\), got \(2,\)"),
        (
            lambda: teacher_probs(torch.zeros(2, 3, 2), 1.0, weights=[1.0]),
            r"weights must be 2 non-negative numbers .* got \[1.0\]",
        ),
        (
            lambda: kd_divergence(torch.zeros(3, 2), torch.zeros(2, 2), 1.0),
            r"same shape; got \(3, 2\) and \(2, 2\)",
        ),
        (
            lambda: kd_loss(torch.zeros(1, 2), torch.zeros(1, 2), torch.zeros(1), 1.0, 1.5),
            r"alpha must be in \[0, 1\], got 1.5",
        ),
    ],
)
def test_bad_arguments_are_named(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
