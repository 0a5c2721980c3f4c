"""training/scoring/calibrate.py: temperature scaling recovers a known T; thresholds by hand."""

import math

import numpy as np
import pytest

from training.scoring.calibrate import calibrate, fit_temperature, fit_threshold, p_synthetic


def _logistic_data(true_t: float, n: int = 20_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from sigmoid(m); logits (0, m * true_t): calibrated at T = true_t."""
    rng = np.random.default_rng(seed)
    m = rng.normal(0.0, 3.0, n)
    labels = (rng.random(n) < 1 / (1 + np.exp(-m))).astype(int)
    return np.stack([np.zeros(n), m * true_t], axis=1), labels


def test_p_synthetic_by_hand() -> None:
    logits = np.array([[0.0, 0.0], [0.0, math.log(3)], [1.0, 1.0 + 2 * math.log(3)]])
    assert p_synthetic(logits) == pytest.approx([0.5, 0.75, 0.9])
    assert p_synthetic(logits[2:], temperature=2.0) == pytest.approx([0.75])
    assert p_synthetic(np.array([[0.0, 1000.0], [1000.0, 0.0]])).tolist() == [1.0, 0.0]


@pytest.mark.parametrize("true_t", [0.5, 2.5])
def test_fit_temperature_recovers_a_known_temperature(true_t: float) -> None:
    logits, labels = _logistic_data(true_t)
    assert fit_temperature(logits, labels) == pytest.approx(true_t, rel=0.05)


def test_scaling_lowers_nll_and_ece_of_overconfident_logits() -> None:
    logits, labels = _logistic_data(4.0)
    fit = calibrate(logits, labels)
    assert fit.temperature == pytest.approx(4.0, rel=0.05)
    assert fit.nll_after < fit.nll_before - 0.1
    assert fit.ece_after < 0.02 < 0.1 < fit.ece_before
    assert fit.rule == "youden" and 0 < fit.threshold < 1


def test_youden_threshold_by_hand() -> None:
    # ROC points by threshold: .8 (tpr .5, fpr 0), .4 (.5, .5), .35 (1, .5), .1 (1, 1):
    # J is highest (0.5) first at .8; the next lower score is .4, so the threshold is .6
    labels, probs = np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])
    assert fit_threshold(labels, probs) == pytest.approx(0.6)
    # separable: every positive at or above .6, every negative at or below .3
    assert fit_threshold(labels, np.array([0.2, 0.3, 0.6, 0.9])) == pytest.approx(0.45)
    assert fit_threshold(labels, probs, "fixed") == 0.5
    with pytest.raises(ValueError, match="unknown threshold rule"):
        fit_threshold(labels, probs, "median")  # type: ignore[arg-type]


def test_threshold_stays_inside_the_open_interval() -> None:
    labels = np.array([0, 0, 1, 1])
    threshold = fit_threshold(labels, np.array([0.0, 0.0, 1.0, 1.0]))
    assert threshold == pytest.approx(0.5)
    assert 0 < fit_threshold(labels, np.array([1.0, 1.0, 1.0, 1.0])) < 1


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        p_synthetic(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="labels"):
        fit_temperature(np.zeros((3, 2)), np.array([0, 1]))
    with pytest.raises(ValueError, match="temperature"):
        p_synthetic(np.zeros((1, 2)), temperature=0.0)
    with pytest.raises(ValueError, match="both classes"):
        fit_threshold(np.array([1, 1]), np.array([0.3, 0.7]))
