"""How one video's frames are looked at for faces: the scales the detector runs at, the
frame faces are cut from, and how detections at each scale become faces in source pixels.

The detector finds faces between `min_face_px` and `max_face_px` of its input. A frame is
scaled so its longer side is the detector's `base` (large faces) and, when the card's
smallest face (`crop.min_face_px`, source pixels) would be too small there, also to a
longer side that brings it to `min_face_px` (a multiple of `base`, at most `max_side`).
Each scaled frame is padded (black, right and bottom) to multiples of the detector's
`multiple`; the larger scale stops where the two would leave a gap between the face sizes
they find. Faces are cut from the frame scaled by min(1, size / (min_face_px * margin)):
just large enough that the smallest screened face's crop is not upscaled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import av
import numpy as np

from app.contract.card import FaceCrop
from app.faces.boxes import weighted_nms
from app.faces.registry import DetectorSpec

Size = tuple[int, int]  # (width, height)
# A detector's box of a small face comes out up to ~10% narrower than at a larger scale
# (measured: a 40 px face reads 36-41 px), so faces are kept down to this share of the
# card's `min_face_px`: a face of min_face_px is never dropped for its box's noise.
BOX_TOLERANCE = 0.8
# The detector's largest scale, unless told (the service's DISTILSCREEN_FACE_DETECTOR_MAX_SIDE).
DEFAULT_MAX_SIDE = 960


@dataclass(frozen=True)
class Face:
    """One face in source pixels: its box, the detector's score and its keypoints."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    score: float
    keypoints: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Scale:
    """The frame scaled to `inner`, padded to `padded` (the detector's input shape)."""

    inner: Size
    padded: Size


@dataclass(frozen=True)
class FaceViews:
    """What one decoded frame gives the face stage: its plan, the detector's inputs (one per
    scale) and the frame faces are cut from (RGB)."""

    plan: FacePlan
    detector_inputs: tuple[np.ndarray, ...]
    crop_frame: np.ndarray


@dataclass(frozen=True)
class FacePlan:
    """The face stage's geometry for frames of one size; the `Conversion` of such frames
    into their `FaceViews` (`app.video.conversion`)."""

    source: Size
    scales: tuple[Scale, ...]
    crop_frame: Size
    crop: FaceCrop
    detector: DetectorSpec

    @classmethod
    def make(cls, source: Size, crop: FaceCrop, detector: DetectorSpec, max_side: int) -> FacePlan:
        """The plan for frames of `source` size; `max_side` caps the detector's largest scale."""
        longest = max(source)
        sides = [detector.base]
        needed = detector.min_face_px * longest / crop.min_face_px
        if needed > detector.base:
            # past base * max / min a face would be too large for the big scale and too
            # small for the base one: the scales must overlap
            seamless = detector.base * detector.max_face_px // detector.min_face_px
            cap = max(detector.base, min(max_side, longest, seamless))
            sides.append(min(detector.base * math.ceil(needed / detector.base), cap))
        scales = tuple(_scale(source, side, detector.multiple) for side in dict.fromkeys(sides))
        crop_frame = _scaled(source, min(1.0, crop.size / (crop.min_face_px * crop.margin)))
        return cls(source, scales, crop_frame, crop, detector)

    @property
    def shapes(self) -> tuple[tuple[int, ...], ...]:
        """The arrays of a frame's views: the detector inputs, then the crop frame."""
        sizes = [s.padded for s in self.scales] + [self.crop_frame]
        return tuple((height, width, 3) for width, height in sizes)

    def convert(self, frame: av.VideoFrame) -> FaceViews:
        """The detector inputs and the crop frame of one decoded frame (swscale does every
        scaling and the colour conversion, straight from the decoded picture)."""
        inputs = []
        for scale in self.scales:
            pixels = frame.to_ndarray(width=scale.inner[0], height=scale.inner[1], format="rgb24")
            padded = np.zeros((scale.padded[1], scale.padded[0], 3), np.uint8)
            padded[: scale.inner[1], : scale.inner[0]] = pixels
            inputs.append(padded)
        crop_frame = frame.to_ndarray(width=self.crop_frame[0], height=self.crop_frame[1], format="rgb24")
        return FaceViews(self, tuple(inputs), crop_frame)

    def to_arrays(self, views: FaceViews) -> tuple[np.ndarray, ...]:
        return (*views.detector_inputs, views.crop_frame)

    def from_arrays(self, arrays: tuple[np.ndarray, ...]) -> FaceViews:
        return FaceViews(self, tuple(arrays[:-1]), arrays[-1])

    def faces(self, detections: list[np.ndarray]) -> list[Face]:
        """Detections at each scale (`FaceDetector.detect` rows) -> the faces to screen:
        merged across scales, at least `min_face_px` wide (less `BOX_TOLERANCE`), the
        `max_faces` best."""
        rows = [_to_source(d, s, self.source) for d, s in zip(detections, self.scales, strict=True)]
        merged = weighted_nms(np.concatenate(rows), self.detector.nms_iou)
        width, height = self.source
        faces = []
        for row in merged:
            x1, x2 = np.clip(row[[0, 2]], 0, width)
            y1, y2 = np.clip(row[[1, 3]], 0, height)
            if x2 - x1 < BOX_TOLERANCE * self.crop.min_face_px or y2 <= y1:
                continue
            keypoints = tuple((float(x), float(y)) for x, y in row[5:].reshape(-1, 2))
            faces.append(Face((float(x1), float(y1), float(x2), float(y2)), float(row[4]), keypoints))
            if len(faces) == self.crop.max_faces:
                break
        return faces


@dataclass(frozen=True)
class FacePlanner:
    """The face stage's `Conversions`: the plan for each frame size (picklable)."""

    crop: FaceCrop
    detector: DetectorSpec
    max_side: int

    def for_size(self, width: int, height: int) -> FacePlan:
        return FacePlan.make((width, height), self.crop, self.detector, self.max_side)


def _scaled(source: Size, factor: float) -> Size:
    return (max(1, round(source[0] * factor)), max(1, round(source[1] * factor)))


def _scale(source: Size, side: int, multiple: int) -> Scale:
    inner = _scaled(source, side / max(source))
    return Scale(inner, (_round_up(inner[0], multiple), _round_up(inner[1], multiple)))


def _round_up(value: int, multiple: int) -> int:
    return multiple * math.ceil(value / multiple)


def _to_source(rows: np.ndarray, scale: Scale, source: Size) -> np.ndarray:
    """Rows in a scale's input pixels -> source pixels (boxes and keypoints alike)."""
    gain = np.array([source[0] / scale.inner[0], source[1] / scale.inner[1]], np.float32)
    out = rows.copy()
    columns = [0, 1, 2, 3, *range(5, out.shape[1])]
    points = out[:, columns].reshape(len(out), len(columns) // 2, 2) * gain
    out[:, columns] = points.reshape(len(out), len(columns))
    return out
