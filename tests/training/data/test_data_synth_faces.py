"""The benchmark's face composites: the service's detector finds them where they were put,
the face self-blend changes the face region only, and face clips group by identity and
background."""

from __future__ import annotations

import itertools
from pathlib import Path

import av
import numpy as np
import pytest

from app.contract.card import FaceCrop
from app.faces.boxes import iou
from app.faces.crops import crop_region
from app.faces.detector import FaceDetector
from app.faces.plan import DEFAULT_MAX_SIDE, FacePlan
from app.faces.registry import DETECTORS
from training.data import load_dataset, sample_frames
from training.data.faces import face_crops
from training.data.synth import generate, plan_clips
from training.data.synth.faces import FACE_PHOTOS, FaceComposite, face_composite, head
from training.data.synth.recipes import FACE_FAMILY, make_face_blend
from training.data.synth.scenes import procedural_canvas

CROP = FaceCrop(kind="face", detector="blazeface_full_range", size=64, min_face_px=40)
SIZE = 256
WIDTHS = (40, 56, 80, 115)  # face box widths in output px
PLACES = (0.3, 0.5, 0.7)  # face centres as shares of the frame, on both axes


def still(photo: str, flip: bool, width: float, cx: float, cy: float) -> FaceComposite:
    """A one-frame composite at a given face width and centre (output px)."""
    return FaceComposite(head(photo, flip), np.array([cx]), np.array([cy]), np.array([width]),
                         np.ones(3, np.float32))


def to_uint8(frame: np.ndarray) -> np.ndarray:
    return (np.clip(frame, 0, 1) * 255 + 0.5).astype(np.uint8)


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector.load(CROP.detector, ["CPUExecutionProvider"], intra_op_threads=1)


def test_the_detector_finds_the_composited_faces(detector: FaceDetector) -> None:
    plan = FacePlan.make((SIZE, SIZE), CROP, DETECTORS[CROP.detector], DEFAULT_MAX_SIDE)
    rng = np.random.default_rng(0)
    found, total = 0, 0
    for photo, flip, width in itertools.product(FACE_PHOTOS, (False, True), WIDTHS):
        background = procedural_canvas(rng, SIZE, SIZE)
        for fx, fy in itertools.product(PLACES, PLACES):
            composite = still(photo, flip, width, fx * SIZE, fy * SIZE)
            frame = av.VideoFrame.from_ndarray(to_uint8(composite.apply(background, 0)), format="rgb24")
            boxes = np.array([face.box for face, _ in face_crops(frame, plan, detector)]).reshape(-1, 4)
            total += 1
            found += bool(len(boxes)) and iou(np.array(composite.box(0)), boxes).max() >= 0.5
    assert found / total >= 0.95, f"recall {found}/{total}"


def test_face_self_blend_changes_only_the_face_region() -> None:
    rng = np.random.default_rng(3)
    background = procedural_canvas(rng, SIZE, SIZE)
    for photo, seed in itertools.product(FACE_PHOTOS, range(3)):
        draw = np.random.default_rng(seed)
        composite, _ = face_composite(draw, photo, 4, (SIZE, SIZE))
        edit, record = make_face_blend(1.0, draw, composite, SIZE)
        assert record["inner"] == FACE_FAMILY
        for t in (0, 3):
            frame = composite.apply(background, t)
            changed = np.abs(edit.apply(frame, None, t) - frame).max(axis=2) > 0
            mask = edit.region(frame.shape[:2], t)
            region = crop_region(composite.box(t), CROP.model_copy(update={"margin": 2.0}))
            x1, y1, x2, y2 = (round(v) for v in region)
            outside = np.ones_like(changed)
            outside[max(y1, 0):y2, max(x1, 0):x2] = False
            assert changed.sum() > 0.3 * (x2 - x1) * (y2 - y1) / 4  # the face itself changes
            assert not changed[mask == 0].any()  # nothing outside the mask
            assert not (mask > 0)[outside].any()  # and the mask is the face's


def test_face_clips_group_by_identity_and_background() -> None:
    plans = plan_clips(24, seed=5, face_fraction=0.5)
    faces = [p for p in plans if p.source.startswith("face:")]
    assert len(faces) == 12 and {p.source.split(":")[1] for p in faces} == set(FACE_PHOTOS)
    assert {p.family for p in faces if p.label} == {FACE_FAMILY}
    assert all(p.family != FACE_FAMILY for p in plans if not p.source.startswith("face:"))
    for plan in faces:
        photo, background = plan.source.split(":")[1:]
        assert plan.group == f"face:{photo}+{background}@5"
    by_group = {g: [p.label for p in faces if p.group == g] for g in {p.group for p in faces}}
    assert all(sorted(labels) == [0, 0, 1, 1] for labels in by_group.values())  # balanced per source


def test_same_seed_same_face_clips(tmp_path: Path, face_benchmark: Path) -> None:
    generate(tmp_path, 8, seed=0, size=(192, 192), frames=8, difficulty=0.3,
             fractions=(0.5, 0.25, 0.25), face_fraction=1.0, progress=False)
    for name in ("manifest.csv", "clips.jsonl"):
        assert (tmp_path / name).read_text() == (face_benchmark / name).read_text()
    for ours, theirs in zip(load_dataset(tmp_path), load_dataset(face_benchmark), strict=True):
        np.testing.assert_array_equal(sample_frames(ours.path, 8, None, None),
                                      sample_frames(theirs.path, 8, None, None))
