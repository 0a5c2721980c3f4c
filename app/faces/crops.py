"""The one cropper: a face box -> the classifier's input, as the card's `crop` says.
Training cuts its face crops with this function too, so both halves cut the same pixels."""

from __future__ import annotations

import math

import av
import numpy as np

from app.contract.card import FaceCrop

Box = tuple[float, float, float, float]
# Bump when the face stage (this cropper, `app.faces.plan`, the detector's decoding) cuts
# other pixels for the same frame and spec: training's crop cache keys on it.
CUT_VERSION = 1


def crop_region(box: Box, crop: FaceCrop) -> Box:
    """The region cut for `box` (source pixels): made square about its centre when
    `crop.square`, then scaled by `crop.margin`. It may extend past the frame."""
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    w, h = x2 - x1, y2 - y1
    if crop.square:
        w = h = max(w, h)
    w, h = w * crop.margin, h * crop.margin
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def cut_face(frame: np.ndarray, source: tuple[int, int], box: Box, crop: FaceCrop) -> np.ndarray:
    """The crop of `box` from `frame` (RGB uint8, H x W x 3: the source frame at any
    scale; `source` is the source's (width, height)), at `crop.size` x `crop.size`.
    Beyond the frame's edges the region is black; swscale does the resizing."""
    height, width = frame.shape[:2]
    sx, sy = width / source[0], height / source[1]
    rx1, ry1, rx2, ry2 = crop_region(box, crop)
    left, top = math.floor(rx1 * sx), math.floor(ry1 * sy)
    right, bottom = max(left + 2, math.ceil(rx2 * sx)), max(top + 2, math.ceil(ry2 * sy))
    region = np.zeros((bottom - top, right - left, 3), np.uint8)
    fx1, fy1 = max(left, 0), max(top, 0)
    fx2, fy2 = min(right, width), min(bottom, height)
    if fx2 > fx1 and fy2 > fy1:
        region[fy1 - top : fy2 - top, fx1 - left : fx2 - left] = frame[fy1:fy2, fx1:fx2]
    picture = av.VideoFrame.from_ndarray(region, format="rgb24")
    return picture.to_ndarray(width=crop.size, height=crop.size, format="rgb24")


def combine(probabilities: list[float], how: str) -> float:
    """A frame's p_synthetic from its faces' (the card's `crop.combine`)."""
    if how == "max":
        return max(probabilities)
    if how == "mean":
        return float(np.mean(probabilities))
    raise ValueError(f"unknown combine {how!r}; choices: max, mean")
