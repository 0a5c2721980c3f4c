"""Evaluation metrics of a binary detector: plain functions of label and probability arrays.

`labels` are 0 (authentic) / 1 (synthetic); `probs` are p_synthetic in [0, 1]. A frame is
called synthetic when ``p >= threshold``, as the service does.

ECE is the top-label expected calibration error of Guo, Pleiss, Sun, Weinberger 2017,
"On Calibration of Modern Neural Networks" (ICML): confidence = max(p, 1 - p), correct =
(predicted class == label) with the class predicted at 0.5, equal-width bins over [0, 1]
(15 by default, right-closed: (k/15, (k+1)/15], the first also holds 0), and
ECE = sum_b |B_b| / N * |accuracy(B_b) - confidence(B_b)|.

`auc_ratio_interval` bounds a ratio of two models' AUCs on the same frames (retention) by a
paired bootstrap over videos, stratified by label (scipy.stats.bootstrap, percentile
method): the frames of one video are not independent draws, so resampling frames would
give too narrow an interval.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import bootstrap
from sklearn.metrics import roc_auc_score

ECE_BINS = 15
LOG_LOSS_EPS = 1e-7


class MetricError(ValueError):
    """Arrays that cannot be scored (wrong shapes, one class only, mixed labels in a group)."""


@dataclass(frozen=True)
class Metrics:
    """The figures of one model on one test set; `video_auc` is None without groups."""

    auc: float
    accuracy: float
    log_loss: float
    ece: float
    video_auc: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ReliabilityBins:
    """Per-bin mean confidence, accuracy and count (empty bins have count 0 and NaN means)."""

    edges: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray


def frame_auc(labels: np.ndarray, probs: np.ndarray) -> float:
    """Area under the ROC curve of p_synthetic over frames."""
    y, p = _checked(labels, probs)
    return float(roc_auc_score(y, p))


def accuracy(labels: np.ndarray, probs: np.ndarray, threshold: float = 0.5) -> float:
    """Fraction of frames whose call (synthetic iff p >= threshold) matches the label."""
    y, p = _checked(labels, probs, both_classes=False)
    return float(np.mean((p >= threshold) == (y == 1)))


def log_loss(labels: np.ndarray, probs: np.ndarray, eps: float = LOG_LOSS_EPS) -> float:
    """Mean binary cross-entropy in nats, with p clipped to [eps, 1 - eps]."""
    y, p = _checked(labels, probs, both_classes=False)
    p = np.clip(p, eps, 1 - eps)
    return float(-np.mean(np.where(y == 1, np.log(p), np.log1p(-p))))


def reliability_bins(labels: np.ndarray, probs: np.ndarray, bins: int = ECE_BINS) -> ReliabilityBins:
    """Top-label confidence and accuracy in `bins` equal-width bins over [0, 1]."""
    if bins < 1:
        raise MetricError(f"bins must be >= 1, got {bins}")
    y, p = _checked(labels, probs, both_classes=False)
    confidence = np.maximum(p, 1 - p)
    correct = ((p >= 0.5) == (y == 1)).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.searchsorted(edges[1:-1], confidence, side="left")  # right-closed bins
    count = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, confidence, minlength=bins) / count
        mean_acc = np.bincount(index, correct, minlength=bins) / count
    return ReliabilityBins(edges=edges, confidence=mean_conf, accuracy=mean_acc, count=count)


def ece(labels: np.ndarray, probs: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error (top-label, equal-width bins; see the module docstring)."""
    r = reliability_bins(labels, probs, bins)
    filled = r.count > 0
    gaps = np.abs(r.accuracy[filled] - r.confidence[filled])
    return float(np.sum(r.count[filled] * gaps) / np.sum(r.count))


def video_scores(
    labels: np.ndarray, probs: np.ndarray, groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One (label, mean p_synthetic) per group (video), groups in sorted order."""
    y, p = _checked(labels, probs, both_classes=False)
    groups = np.asarray(groups)
    if groups.shape != y.shape:
        raise MetricError(f"groups must have shape {y.shape}, got {groups.shape}")
    names, index = np.unique(groups, return_inverse=True)
    count = np.bincount(index)
    positives = np.bincount(index, y)
    mixed = (positives > 0) & (positives < count)
    if mixed.any():
        raise MetricError(f"groups with both labels: {names[mixed][:3].tolist()}")
    return (positives > 0).astype(np.int64), np.bincount(index, p) / count


def video_auc(labels: np.ndarray, probs: np.ndarray, groups: np.ndarray) -> float:
    """AUC over videos, each scored by the mean p_synthetic of its frames."""
    return frame_auc(*video_scores(labels, probs, groups))


def auc_ratio_interval(
    labels: np.ndarray,
    probs: np.ndarray,
    reference: np.ndarray,
    groups: np.ndarray,
    *,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float] | None:
    """A `confidence` interval of frame AUC(probs) / frame AUC(reference): each resample
    draws the authentic and the synthetic videos with replacement (each class keeps its
    count) and scores both models on the frames of the drawn videos. None with fewer than
    two videos of a class. A resample on which the reference's AUC is 0 (tiny test sets)
    counts as an infinite ratio."""
    y, p = _checked(labels, probs)
    _, q = _checked(labels, reference)
    video_labels, _ = video_scores(y, p, groups)
    _, index = np.unique(np.asarray(groups), return_inverse=True)
    frames_of = [np.flatnonzero(index == v) for v in range(len(video_labels))]
    classes = [np.flatnonzero(video_labels == c) for c in (0, 1)]
    if min(len(c) for c in classes) < 2:
        return None

    def ratio(authentic: np.ndarray, synthetic: np.ndarray) -> float:
        rows = np.concatenate([frames_of[v] for v in np.concatenate([authentic, synthetic])])
        denominator = roc_auc_score(y[rows], q[rows])
        return roc_auc_score(y[rows], p[rows]) / denominator if denominator > 0 else np.inf

    result = bootstrap(classes, ratio, vectorized=False, n_resamples=resamples,
                       confidence_level=confidence, method="percentile",
                       rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def evaluate(
    labels: np.ndarray,
    probs: np.ndarray,
    *,
    threshold: float = 0.5,
    groups: np.ndarray | None = None,
    bins: int = ECE_BINS,
) -> Metrics:
    """All the figures of one model; video AUC only when `groups` are given."""
    return Metrics(
        auc=frame_auc(labels, probs),
        accuracy=accuracy(labels, probs, threshold),
        log_loss=log_loss(labels, probs),
        ece=ece(labels, probs, bins),
        video_auc=None if groups is None else video_auc(labels, probs, groups),
    )


def _checked(labels: np.ndarray, probs: np.ndarray, both_classes: bool = True
             ) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels)
    p = np.asarray(probs, dtype=np.float64)
    if y.ndim != 1 or y.shape != p.shape or y.size == 0:
        raise MetricError(f"need equal non-empty 1-D labels and probs, got {y.shape} and {p.shape}")
    if not np.isin(y, (0, 1)).all():
        raise MetricError(f"labels must be 0 or 1, got {np.unique(y)[:5].tolist()}")
    if np.isnan(p).any() or p.min() < 0 or p.max() > 1:
        raise MetricError(f"probs must lie in [0, 1], got range [{p.min()}, {p.max()}]")
    if both_classes and np.unique(y).size < 2:
        raise MetricError(f"AUC needs both classes, got only label {int(y[0])}")
    return y.astype(np.int64), p
