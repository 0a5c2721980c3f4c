"""Box arithmetic of the face stage, in plain numpy (no ONNX Runtime: the plan and the
decoding side use it too)."""

from __future__ import annotations

import numpy as np


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one box (4,) with boxes (K, 4), corners x1, y1, x2, y2."""
    lo = np.maximum(box[:2], boxes[:, :2])
    hi = np.minimum(box[2:4], boxes[:, 2:4])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    area = np.prod(box[2:4] - box[:2])
    areas = np.prod(boxes[:, 2:4] - boxes[:, :2], axis=1)
    return inter / np.maximum(area + areas - inter, 1e-12)


def weighted_nms(rows: np.ndarray, threshold: float) -> np.ndarray:
    """MediaPipe's weighted NMS over rows (x1, y1, x2, y2, score, ...): the best-scored row
    absorbs every row overlapping it by more than `threshold` IoU, and becomes their
    score-weighted mean (keeping its own score)."""
    rows = rows[np.argsort(-rows[:, 4], kind="stable")]
    merged = []
    while len(rows):
        overlap = iou(rows[0, :4], rows[:, :4]) > threshold
        cluster = rows[overlap]
        mean = (cluster * cluster[:, 4:5]).sum(axis=0) / cluster[:, 4].sum()
        mean[4] = rows[0, 4]
        merged.append(mean)
        rows = rows[~overlap]
    return np.array(merged, np.float32) if merged else np.zeros((0, rows.shape[1]), np.float32)
