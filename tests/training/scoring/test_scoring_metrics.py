"""training/scoring/metrics.py against values worked out by hand."""

import math

import numpy as np
import pytest

from training.scoring.metrics import (
    ECE_BINS,
    MetricError,
    accuracy,
    auc_ratio_interval,
    ece,
    evaluate,
    frame_auc,
    log_loss,
    reliability_bins,
    video_auc,
    video_scores,
)

# Positives score 0.35 and 0.8, negatives 0.1 and 0.4: 3 of 4 pairs are ordered right.
Y = np.array([0, 0, 1, 1])
P = np.array([0.1, 0.4, 0.35, 0.8])


def test_frame_auc_counts_ordered_pairs_and_half_ties() -> None:
    assert frame_auc(Y, P) == pytest.approx(0.75)
    assert frame_auc(np.array([0, 1]), np.array([0.5, 0.5])) == pytest.approx(0.5)
    assert frame_auc(np.array([1, 0]), np.array([0.9, 0.1])) == pytest.approx(1.0)


@pytest.mark.parametrize(("threshold", "expected"), [(0.5, 0.75), (0.35, 0.75), (0.4, 0.5), (0.9, 0.5)])
def test_accuracy_calls_synthetic_at_or_above_the_threshold(threshold: float, expected: float) -> None:
    assert accuracy(Y, P, threshold) == pytest.approx(expected)


def test_log_loss_is_the_mean_cross_entropy_in_nats() -> None:
    expected = -(math.log(0.9) + math.log(0.6) + math.log(0.35) + math.log(0.8)) / 4
    assert log_loss(Y, P) == pytest.approx(expected)
    # p = 0 for a synthetic frame is clipped to 1e-7, not infinite
    assert log_loss(np.array([1]), np.array([0.0])) == pytest.approx(-math.log(1e-7))


def test_ece_by_hand() -> None:
    # confidence max(p, 1-p) = .9 .7 .55 .7 .95; correct (call at 0.5) = 1 1 0 1 1
    y = np.array([0, 0, 1, 1, 1])
    p = np.array([0.1, 0.3, 0.45, 0.7, 0.95])
    # 5 bins: (.4,.6] {.55: acc 0}, (.6,.8] {.7,.7: acc 1}, (.8,1] {.9,.95: acc 1}
    assert ece(y, p, bins=5) == pytest.approx((0.55 + 2 * 0.3 + 2 * 0.075) / 5)
    assert ece(y, p) == pytest.approx(0.26)  # 15 bins split (.8, 1] in two: same gaps here
    # 1 bin: |mean accuracy - mean confidence| = |0.8 - 0.76|
    assert ece(y, p, bins=1) == pytest.approx(0.04)
    assert ECE_BINS == 15


def test_ece_is_zero_when_confidence_matches_accuracy() -> None:
    assert ece(np.array([1, 1, 1, 0]), np.full(4, 0.75)) == pytest.approx(0.0)


def test_reliability_bins_are_right_closed() -> None:
    r = reliability_bins(np.array([1, 1, 0]), np.array([0.5, 1.0, 0.0]), bins=2)
    assert r.count.tolist() == [1, 2]  # confidence 0.5 falls in (0, 0.5], 1.0 in (0.5, 1]
    assert r.edges.tolist() == [0.0, 0.5, 1.0]
    assert r.confidence.tolist() == [0.5, 1.0]
    assert r.accuracy.tolist() == [1.0, 1.0]
    assert np.isnan(reliability_bins(Y, P, bins=4).confidence[0])  # empty bin


def test_video_auc_scores_each_video_by_its_mean_probability() -> None:
    y = np.array([0, 0, 1, 1, 0, 0, 1, 1])
    p = np.array([0.1, 0.9, 0.4, 0.4, 0.2, 0.2, 0.7, 0.9])
    g = np.array(["a", "a", "b", "b", "c", "c", "d", "d"])
    labels, means = video_scores(y, p, g)
    assert labels.tolist() == [0, 1, 0, 1]
    assert means == pytest.approx([0.5, 0.4, 0.2, 0.8])
    assert video_auc(y, p, g) == pytest.approx(0.75)  # 0.4 < 0.5: one of four pairs wrong
    assert frame_auc(y, p) == pytest.approx(12.5 / 16)


def test_evaluate_gathers_every_figure() -> None:
    m = evaluate(Y, P, threshold=0.4, groups=np.array([0, 1, 2, 3]))
    assert (m.auc, m.accuracy, m.video_auc) == pytest.approx((0.75, 0.5, 0.75))
    assert m.log_loss == pytest.approx(log_loss(Y, P))
    assert evaluate(Y, P).video_auc is None
    assert set(m.as_dict()) == {"auc", "accuracy", "log_loss", "ece", "video_auc"}


@pytest.mark.parametrize(
    ("labels", "probs", "groups", "message"),
    [
        ([1, 1], [0.2, 0.3], None, "both classes"),
        ([0, 1], [0.2, 1.3], None, r"\[0, 1\]"),
        ([0, 2], [0.2, 0.3], None, "0 or 1"),
        ([0, 1, 1], [0.2, 0.3], None, "equal"),
        ([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], ["a", "a", "b", "b"], "both labels"),
    ],
)
def test_bad_inputs_name_the_rule(labels: list, probs: list, groups: list | None, message: str) -> None:
    with pytest.raises(MetricError, match=message):
        if groups is None:
            frame_auc(np.array(labels), np.array(probs))
        else:
            video_auc(np.array(labels), np.array(probs), np.array(groups))


def _video_scores(seed: int, videos: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, an ensemble's and a noisier student's p_synthetic: one of each per video."""
    rng = np.random.default_rng(seed)
    labels = np.arange(videos) % 2
    ensemble = np.clip(0.5 + 0.3 * (labels - 0.5) + rng.normal(0, 0.2, videos), 0, 1)
    return labels, np.clip(ensemble + rng.normal(0, 0.2, videos), 0, 1), ensemble


def test_retention_interval_holds_the_ratio_and_is_one_for_a_perfect_copy() -> None:
    labels, student, ensemble = _video_scores(0)
    groups = np.arange(labels.size)
    low, high = auc_ratio_interval(labels, student, ensemble, groups, resamples=300)
    assert low < frame_auc(labels, student) / frame_auc(labels, ensemble) < high
    assert auc_ratio_interval(labels, ensemble, ensemble, groups, resamples=300) == (1.0, 1.0)


def test_retention_interval_resamples_whole_videos() -> None:
    labels, student, ensemble = _video_scores(1)
    one_frame = auc_ratio_interval(labels, student, ensemble, np.arange(labels.size), resamples=300)
    # Four identical frames per video: the same videos drawn give the same AUCs.
    frames = [np.repeat(a, 4) for a in (labels, student, ensemble, np.arange(labels.size))]
    assert auc_ratio_interval(*frames, resamples=300) == pytest.approx(one_frame)
    # Treating those frames as independent would understate the uncertainty.
    low, high = auc_ratio_interval(*frames[:3], np.arange(frames[0].size), resamples=300)
    assert high - low < 0.7 * (one_frame[1] - one_frame[0])


def test_retention_interval_needs_two_videos_of_each_class() -> None:
    labels, probs = np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.8, 0.2])
    assert auc_ratio_interval(labels, probs, probs, np.array(["a", "b", "c", "a"])) is None
