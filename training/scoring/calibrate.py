"""Temperature scaling and the decision threshold, both fitted on validation data.

Temperature scaling (Guo, Pleiss, Sun, Weinberger 2017, "On Calibration of Modern Neural
Networks"): p = softmax(z / T); T > 0 minimises the validation NLL. With two classes only
the logit margin m = z_synthetic - z_authentic matters, and
NLL(T) = mean(softplus(-s * m / T)) with s = +1 for synthetic, -1 for authentic.
The NLL is convex in 1/T, so a bounded 1-D search over log T finds the global minimum
within `T_BOUNDS` (logits anti-correlated with the labels end at the upper bound).

Decision threshold: rule "youden" (default) takes the point of the validation ROC curve
that maximises Youden's J = TPR - FPR, and puts the threshold half-way between that
point's score and the next lower validation score (so every validation frame is called
as at the optimum, with the widest margin); rule "fixed" returns 0.5.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.metrics import roc_curve

from training.scoring.metrics import ECE_BINS, ece, log_loss

T_BOUNDS = (0.01, 100.0)
THRESHOLD_BOUNDS = (1e-6, 1 - 1e-6)  # the card wants 0 < threshold < 1
SYNTHETIC = 1  # column of the synthetic logit (training.nets.CLASS_NAMES order)
ThresholdRule = Literal["youden", "fixed"]


@dataclass(frozen=True)
class CalibrationFit:
    """Fitted temperature and threshold, with validation NLL and ECE before and after."""

    temperature: float
    threshold: float
    rule: str
    nll_before: float
    nll_after: float
    ece_before: float
    ece_after: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def margins(logits: np.ndarray) -> np.ndarray:
    """z_synthetic - z_authentic of (N, 2) logits."""
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"logits must have shape (N, 2), got {z.shape}")
    return z[:, SYNTHETIC] - z[:, 1 - SYNTHETIC]


def p_synthetic(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """softmax(logits / T)[:, synthetic] of (N, 2) logits, computed stably."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    m = margins(logits) / temperature
    return np.exp(-np.logaddexp(0.0, -m))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T in `T_BOUNDS` that minimises the NLL of softmax(logits / T) on (logits, labels)."""
    m, sign = margins(logits), np.where(np.asarray(labels) == 1, 1.0, -1.0)
    if m.shape != sign.shape:
        raise ValueError(f"{len(m)} logits but {sign.shape} labels")
    signed = sign * m

    def nll(log_t: float) -> float:
        return float(np.mean(np.logaddexp(0.0, -signed / np.exp(log_t))))

    low, high = np.log(T_BOUNDS)
    result = minimize_scalar(nll, bounds=(low, high), method="bounded", options={"xatol": 1e-6})
    return float(np.exp(result.x))


def fit_threshold(labels: np.ndarray, probs: np.ndarray, rule: ThresholdRule = "youden") -> float:
    """Decision threshold on p_synthetic by `rule` (see the module docstring)."""
    if rule == "fixed":
        return 0.5
    if rule != "youden":
        raise ValueError(f"unknown threshold rule {rule!r}; choose 'youden' or 'fixed'")
    if np.unique(labels).size < 2:
        raise ValueError("the Youden threshold needs validation frames of both classes")
    fpr, tpr, scores = roc_curve(labels, probs, drop_intermediate=False)
    best = int(np.argmax(tpr - fpr))
    upper = min(float(scores[best]), 1.0)  # scores[0] is +inf (nothing called synthetic)
    lower = float(scores[best + 1]) if best + 1 < len(scores) else 0.0
    return float(np.clip((upper + lower) / 2, *THRESHOLD_BOUNDS))


def calibrate(
    logits: np.ndarray, labels: np.ndarray, rule: ThresholdRule = "youden", bins: int = ECE_BINS
) -> CalibrationFit:
    """Fit T on validation logits, then the threshold on the scaled probabilities."""
    temperature = fit_temperature(logits, labels)
    before, after = p_synthetic(logits), p_synthetic(logits, temperature)
    return CalibrationFit(
        temperature=temperature,
        threshold=fit_threshold(labels, after, rule),
        rule=rule,
        nll_before=log_loss(labels, before),
        nll_after=log_loss(labels, after),
        ece_before=ece(labels, before, bins),
        ece_after=ece(labels, after, bins),
    )
