"""The face detector run by ONNX Runtime, with its anchor decoding and NMS in numpy.

`FaceDetector.detect` takes a batch of frames of one shape (scaled and padded by
`app.faces.plan`) and returns, per frame, rows (x1, y1, x2, y2, score, keypoints...) in
that input's pixels: anchors decoded, sigmoid applied, MediaPipe's weighted NMS done.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import onnxruntime as ort

from app.contract.predictor import open_session
from app.faces.boxes import weighted_nms
from app.faces.registry import DETECTORS, DETECTORS_DIR, DetectorSpec


class FaceDetector:
    """One detector session; `detect(frames)` is what its batchers run."""

    def __init__(self, name: str, session: ort.InferenceSession) -> None:
        self.name = name
        self.spec: DetectorSpec = DETECTORS[name]
        self.session = session

    @classmethod
    def load(
        cls, name: str, providers: list[str], intra_op_threads: int = 0, directory: Path = DETECTORS_DIR
    ) -> FaceDetector:
        """Open registered detector `name` from `directory` with the first available of
        `providers`."""
        if name not in DETECTORS:
            raise ValueError(f"unknown face detector {name!r}; choices: {sorted(DETECTORS)}")
        path = directory / DETECTORS[name].file
        if not path.is_file():
            raise FileNotFoundError(f"face detector {name!r}: {path} not found (DISTILSCREEN_DETECTORS_DIR)")
        return cls(name, open_session(path, providers, intra_op_threads)[0])

    @property
    def providers(self) -> list[str]:
        return self.session.get_providers()

    def detect_each(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        """`detect` over frames of several shapes (a batcher's mixed batch): one run per shape."""
        found: list[np.ndarray] = [np.empty(0)] * len(frames)
        shapes: dict[tuple[int, ...], list[int]] = {}
        for i, frame in enumerate(frames):
            shapes.setdefault(frame.shape, []).append(i)
        for rows in shapes.values():
            for i, detections in zip(rows, self.detect(np.stack([frames[i] for i in rows])), strict=True):
                found[i] = detections
        return found

    def detect(self, frames: np.ndarray) -> list[np.ndarray]:
        """Faces in each uint8 (N, H, W, 3) frame: (K, 5 + 2 * keypoints) rows, input pixels."""
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"frames must be uint8 (N, H, W, 3), got {frames.dtype} {frames.shape}")
        height, width = frames.shape[1:3]
        m = self.spec.multiple
        if height % m or width % m:
            raise ValueError(f"height and width must be multiples of {m}, got {width}x{height}")
        regressors, scores = self.session.run(["regressors", "classificators"], {"frames": frames})
        probs = 1 / (1 + np.exp(-np.clip(scores[..., 0], -100, 100)))
        anchors = _anchors(width, height, self.spec.stride)
        return [self._decode(regressors[i], probs[i], anchors) for i in range(len(frames))]

    def _decode(self, raw: np.ndarray, probs: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        keep = probs >= self.spec.min_score
        raw, probs, anchors = raw[keep], probs[keep], anchors[keep]
        centre = raw[:, :2] + anchors
        half = raw[:, 2:4] / 2
        k = self.spec.keypoints
        keypoints = raw[:, 4 : 4 + 2 * k].reshape(len(raw), k, 2) + anchors[:, None]
        rows = [centre - half, centre + half, probs[:, None], keypoints.reshape(len(raw), 2 * k)]
        return weighted_nms(np.concatenate(rows, axis=1), self.spec.nms_iou)


@functools.lru_cache(maxsize=16)
def _anchors(width: int, height: int, stride: int) -> np.ndarray:
    """Anchor centres (A, 2) in pixels, row-major over the (height/stride, width/stride) grid."""
    ys, xs = np.meshgrid(
        (np.arange(height // stride) + 0.5) * stride, (np.arange(width // stride) + 0.5) * stride,
        indexing="ij",
    )
    return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)
