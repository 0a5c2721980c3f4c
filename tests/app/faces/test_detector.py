"""The face detector on real photos: the astronaut's face, none on face-free photos, and
recall on composites at several scales and positions."""

from __future__ import annotations

import av
import numpy as np
import pytest
from skimage import data

from app.contract.card import FaceCrop
from app.faces.boxes import iou, weighted_nms
from app.faces.detector import FaceDetector
from app.faces.plan import Face, FacePlan
from app.faces.registry import DETECTORS
from tests.helpers import ASTRONAUT_FACE, astronaut, face_scene

NAME = "blazeface_full_range"


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector.load(NAME, ["CPUExecutionProvider"], intra_op_threads=1)


def faces_in(image: np.ndarray, detector: FaceDetector, min_face_px: int = 40) -> list[Face]:
    """The face stage's faces in one RGB image (as the service finds them)."""
    crop = FaceCrop(kind="face", detector=NAME, size=64, min_face_px=min_face_px)
    height, width = image.shape[:2]
    plan = FacePlan.make((width, height), crop, DETECTORS[NAME], max_side=960)
    views = plan.convert(av.VideoFrame.from_ndarray(image, format="rgb24"))
    return plan.faces([detector.detect(x[None])[0] for x in views.detector_inputs])


def test_finds_the_astronauts_face(detector: FaceDetector) -> None:
    (face,) = faces_in(astronaut(), detector)
    assert iou(np.array(ASTRONAUT_FACE), np.array([face.box]))[0] >= 0.7
    assert face.score > 0.8
    right_eye, left_eye = face.keypoints[:2]
    assert right_eye[0] < left_eye[0]  # the subject's right eye is on the image's left


@pytest.mark.parametrize("photo", ["coffee", "rocket", "chelsea"])
def test_no_face_on_face_free_photos(detector: FaceDetector, photo: str) -> None:
    assert faces_in(getattr(data, photo)(), detector) == []


@pytest.mark.parametrize("size", [(640, 360), (1280, 720)])
def test_recall_on_composites_of_40_px_and_larger(detector: FaceDetector, size: tuple[int, int]) -> None:
    rng = np.random.default_rng(size[0])
    background = data.coffee()
    hits, total = 0, 0
    for face_px in (40, 56, 80, 120, 200):
        for _ in range(5):
            at = (int(rng.integers(0, size[0] - face_px)), int(rng.integers(0, size[1] - face_px)))
            frame, truth = face_scene(size, face_px, at, background)
            found = faces_in(frame, detector)
            total += 1
            hits += bool(found) and iou(np.array(truth), np.array([f.box for f in found])).max() >= 0.5
    assert hits / total >= 0.95, f"recall {hits}/{total}"


def test_mixed_shapes_detect_as_they_would_alone(detector: FaceDetector) -> None:
    crop = FaceCrop(kind="face", detector=NAME, size=64)
    plan = FacePlan.make((512, 512), crop, DETECTORS[NAME], max_side=960)
    inputs = list(plan.convert(av.VideoFrame.from_ndarray(astronaut(), format="rgb24")).detector_inputs)
    assert len({x.shape for x in inputs}) == 2
    mixed = detector.detect_each(inputs + inputs[:1])
    alone = [detector.detect(x[None])[0] for x in inputs + inputs[:1]]
    for a, b in zip(mixed, alone, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_weighted_nms_merges_overlaps_by_score() -> None:
    rows = np.array([[0, 0, 10, 10, 0.9], [1, 1, 11, 11, 0.3], [50, 50, 60, 60, 0.8]], np.float32)
    merged = weighted_nms(rows, 0.3)
    np.testing.assert_allclose(merged[0], [0.25, 0.25, 10.25, 10.25, 0.9], atol=1e-6)
    np.testing.assert_allclose(merged[1], rows[2])
    assert weighted_nms(rows[:0], 0.3).shape == (0, 5)


def test_unknown_detector_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="choices: \\['blazeface_full_range'\\]"):
        FaceDetector.load("yunet", ["CPUExecutionProvider"])
