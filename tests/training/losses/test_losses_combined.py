"""training/losses/combined.py: registered terms composed as a weighted sum."""

import math
from typing import Any

import pytest
import torch
from pydantic import ValidationError

from training.losses import LOSSES, DistillOutputs, WeightedSum, build_loss, hinton
from training.losses.kd import kd_loss

FROM_RUN = {"temperature": 4.0, "student_channels": 8, "teacher_channels": 16}  # what the run fills in

# What each registered term needs to be built; a new term must be added here.
TERM_KWARGS: dict[str, dict[str, Any]] = {
    "kd": {"temperature": 4.0},
    "ce": {},
    "fitnets": {"student_channels": 8, "teacher_channels": 16},
    "at": {"beta": 1e3},
}


def _outputs() -> DistillOutputs:
    g = torch.Generator().manual_seed(0)
    return DistillOutputs(
        student_logits=torch.randn(4, 2, generator=g, requires_grad=True),
        targets=torch.tensor([0, 1, 1, 0]),
        teacher_probs=torch.softmax(torch.randn(4, 2, generator=g), 1),
        student_features=[torch.randn(4, 8, 8, 8, generator=g), torch.randn(4, 8, 4, 4, generator=g)],
        teacher_features=[torch.randn(4, 16, 8, 8, generator=g), torch.randn(4, 16, 2, 2, generator=g)],
    )


def test_every_registered_term_has_test_kwargs() -> None:
    assert sorted(TERM_KWARGS) == LOSSES.names()


@pytest.mark.parametrize("name", LOSSES.names())
def test_each_term_gives_a_finite_scalar_and_prints_a_formula(name: str) -> None:
    term = LOSSES.build(name, **TERM_KWARGS[name])
    value = term(_outputs())
    assert value.shape == () and math.isfinite(value.item()) and value.item() >= 0
    assert str(term) and "\n" not in str(term)


def test_total_is_the_weighted_sum_and_the_log_holds_unweighted_terms() -> None:
    spec = {name: {"weight": w} for name, w in
            zip(["kd", "ce", "fitnets", "at"], [0.9, 0.1, 0.5, 2.0], strict=True)}
    loss = build_loss(spec, **FROM_RUN)
    total, logged = loss(_outputs())
    assert list(logged) == ["kd", "ce", "fitnets", "at"]
    expected = 0.9 * logged["kd"] + 0.1 * logged["ce"] + 0.5 * logged["fitnets"] + 2 * logged["at"]
    assert total.item() == pytest.approx(expected, rel=1e-6)


def test_str_prints_the_formula() -> None:
    loss = build_loss({
        "kd": {"weight": 0.9},
        "ce": {"weight": 0.1},
        "fitnets": {"weight": 1},
        "at_deep": {"weight": 1, "term": "at", "pairs": [1]},
    }, **FROM_RUN)
    assert str(loss) == (
        "loss = 0.9 * kd + 0.1 * ce + 1 * fitnets + 1 * at_deep\n"
        "       kd = T^2 * KL(p_t^T || p_s^T) [T=4]\n"
        "       ce = CE(y, p_s)\n"
        "  fitnets = MSE(r(F_s[-1]), F_t[-1])\n"
        "  at_deep = sum_{j in [1]} beta/2 * mean((a(F_s[j]) - a(F_t[j]))^2) [beta=1000, p=2]"
    )


def test_hinton_equals_the_closed_form_kd_loss() -> None:
    out = _outputs()
    total, logged = hinton(alpha=0.8, temperature=3.0)(out)
    expected = kd_loss(out.student_logits, out.teacher_probs, out.targets, 3.0, 0.8)
    torch.testing.assert_close(total, expected)
    assert set(logged) == {"kd", "ce"}


def test_regressor_parameters_belong_to_the_loss_and_get_gradients() -> None:
    loss = build_loss({"fitnets": {"weight": 1.0}}, **FROM_RUN)
    params = list(loss.parameters())
    assert len(params) == 3  # 1x1 conv weight, BatchNorm weight and bias
    loss(_outputs())[0].backward()
    assert all(p.grad is not None for p in params)


def test_at_sums_over_the_chosen_pairs() -> None:
    out = _outputs()
    both = LOSSES.build("at")(out)
    first = LOSSES.build("at", pairs=[0])(out)
    second = LOSSES.build("at", pairs=[1])(out)
    torch.testing.assert_close(both, first + second)


def test_missing_inputs_are_named() -> None:
    out = DistillOutputs(student_logits=torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"'kd' needs DistillOutputs.teacher_probs"):
        hinton(0.5, 2.0)(out)
    with pytest.raises(ValueError, match=r"'at' needs DistillOutputs.student_features"):
        LOSSES.build("at")(out)
    unpaired = DistillOutputs(
        torch.zeros(2, 2), student_features=[torch.ones(2, 1, 2, 2)] * 2,
        teacher_features=[torch.ones(2, 1, 2, 2)],
    )
    with pytest.raises(ValueError, match=r"got 2 student and 1 teacher maps"):
        LOSSES.build("at")(unpaired)


def test_bad_specs_are_named() -> None:
    with pytest.raises(ValidationError, match=r"unknown loss term 'kl'; choices: at, ce, fitnets, kd"):
        build_loss({"kl": {"weight": 1.0}})
    with pytest.raises(ValidationError, match=r"unknown key\(s\) \['scale'\]; choices: weight, term"):
        build_loss({"ce": {"scale": 1.0}})
    with pytest.raises(ValidationError, match=r"ce.weight\n  Field required"):
        build_loss({"ce": {}})
    with pytest.raises(ValueError, match=r"at least one term"):
        WeightedSum({})
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\], got -0.1"):
        hinton(-0.1, 2.0)
