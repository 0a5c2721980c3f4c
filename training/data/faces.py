"""Face crops for training, cut by the service's own face stage so train and serve see the
same pixels: `app.faces.plan` (scales, the crop frame), `app.faces.detector` and
`app.faces.crops.cut_face`, called exactly as the service calls them on a decoded frame.

A sampled frame gives one training crop: its highest-scored face (the service screens
up to `crop.max_faces`; training keeps the one the detector is surest of, so a frame's
label belongs to one face). A frame without a face gives none.
"""

from __future__ import annotations

import functools
import hashlib

import av
import numpy as np

from app.contract.card import Crop, FaceCrop
from app.faces.crops import CUT_VERSION, cut_face
from app.faces.detector import FaceDetector
from app.faces.plan import DEFAULT_MAX_SIDE, Face, FacePlan
from app.faces.registry import DETECTORS
from training.data.frames import Converter, Size


def face_crops(frame: av.VideoFrame, plan: FacePlan, detector: FaceDetector) -> list[tuple[Face, np.ndarray]]:
    """Every face the service would screen in `frame` and its crop, as the service cuts it
    (the detector run at batch 1 on each of the plan's scales)."""
    views = plan.convert(frame)
    faces = plan.faces([detector.detect(pixels[None])[0] for pixels in views.detector_inputs])
    return [(face, cut_face(views.crop_frame, plan.source, face.box, plan.crop)) for face in faces]


def crop_at(crop: Crop, size: int) -> Crop:
    """`crop` for a net of input `size`: a face crop cut at that size (the same faces and
    regions: the detector's scales do not depend on the size), a frame crop as is."""
    return crop.model_copy(update={"size": size}) if isinstance(crop, FaceCrop) else crop


class FaceSampler:
    """Sampled frames -> best-face crops (`converter`), for `training.data.frames`.

    The detector (one ONNX Runtime thread: loaders parallelise over clips) opens on first
    use and is shared by the threads that call it (two racing threads may each open one:
    harmless); plans are made per source size."""

    def __init__(self, crop: FaceCrop, max_side: int = DEFAULT_MAX_SIDE) -> None:
        self.crop = crop
        self.max_side = max_side
        self._plans: dict[tuple[Size, int], FacePlan] = {}

    @functools.cached_property
    def detector(self) -> FaceDetector:
        return FaceDetector.load(self.crop.detector, ["CPUExecutionProvider"], intra_op_threads=1)

    @functools.cached_property
    def key(self) -> list:
        """What the crops depend on besides the frame (a `FrameCache` key field)."""
        spec = DETECTORS[self.crop.detector]
        weights = hashlib.sha256(spec.path.read_bytes()).hexdigest()
        return [self.crop.model_dump(mode="json", exclude={"size"}), self.max_side, weights, CUT_VERSION]

    def plan(self, source: Size, size: int) -> FacePlan:
        """The service's plan for frames of `source` size, cropping at `size`."""
        key = (source, size)
        if key not in self._plans:
            crop = crop_at(self.crop, size)
            self._plans[key] = FacePlan.make(source, crop, DETECTORS[crop.detector], self.max_side)
        return self._plans[key]

    def best_face(self, frame: av.VideoFrame, size: int) -> np.ndarray | None:
        """The crop (size x size) of the highest-scored face in `frame`, or None."""
        found = face_crops(frame, self.plan((frame.width, frame.height), size), self.detector)
        return max(found, key=lambda pair: pair[0].score)[1] if found else None

    def converter(self, size: Size | int | None) -> Converter:
        """`best_face` at `size` (see `training.data.frames.sample_frames`)."""
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"face crops are square: size must be a positive int, got {size!r}")
        return functools.partial(self.best_face, size=size)


def face_sampler(crop: Crop) -> FaceSampler | None:
    """The sampler of `crop` (a config's `data.crop`): None for whole frames."""
    return FaceSampler(crop) if isinstance(crop, FaceCrop) else None
