"""The face detectors the service ships, by the name a model card gives (`crop.detector`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.shipped import MODELS_DIR

# Where the shipped detectors are; DISTILSCREEN_DETECTORS_DIR tells the service otherwise
# (the images copy them to /models/detectors).
DETECTORS_DIR = MODELS_DIR / "detectors"


@dataclass(frozen=True)
class DetectorSpec:
    """One detector: its ONNX file and what its outputs mean.

    The graph is fully convolutional: it takes uint8 RGB (N, H, W, 3) with H and W multiples
    of `multiple` and has one anchor per `stride` x `stride` cell. It finds faces from about
    `min_face_px` to `max_face_px` pixels wide in its input (measured; `docs/faces.md`), so
    a frame is run at `base` (for large faces) and, when the card's smallest face would be
    narrower than `min_face_px` there, also at a larger scale (`app.faces.plan`)."""

    file: str
    base: int  # the size it was trained at: the longer side of the frame, in pixels
    multiple: int
    stride: int
    min_face_px: int
    max_face_px: int
    min_score: float  # MediaPipe's min_score_thresh
    nms_iou: float  # MediaPipe's min_suppression_threshold
    keypoints: int

    @property
    def path(self) -> Path:
        """The repository's copy (training reads it there; the service, from its setting)."""
        return DETECTORS_DIR / self.file


DETECTORS: dict[str, DetectorSpec] = {
    "blazeface_full_range": DetectorSpec(
        file="blazeface-full-range.onnx", base=192, multiple=32, stride=4, min_face_px=18,
        max_face_px=120, min_score=0.6, nms_iou=0.3, keypoints=6,
    ),
}
