"""The face plan: detector scales, the crop frame, and detections back in source pixels."""

from __future__ import annotations

import av
import numpy as np

from app.contract.card import FaceCrop
from app.faces.plan import FacePlan, Scale
from app.faces.registry import DETECTORS

SPEC = DETECTORS["blazeface_full_range"]


def crop(**kwargs: object) -> FaceCrop:
    return FaceCrop(kind="face", detector="blazeface_full_range", **({"size": 128} | kwargs))


def test_720p_with_40_px_faces_runs_two_scales_and_cuts_from_the_native_frame() -> None:
    plan = FacePlan.make((1280, 720), crop(min_face_px=40), SPEC, max_side=960)
    # 18 px (the detector's smallest face) * 1280 / 40 = 576: the third multiple of 192
    assert plan.scales == (Scale((192, 108), (192, 128)), Scale((576, 324), (576, 352)))
    assert plan.crop_frame == (1280, 720)  # 128 / (40 * 1.3) > 1: never downscaled


def test_large_faces_need_one_scale_and_a_smaller_crop_frame() -> None:
    plan = FacePlan.make((1920, 1080), crop(min_face_px=400, size=64), SPEC, max_side=960)
    assert plan.scales == (Scale((192, 108), (192, 128)),)
    assert plan.crop_frame == (236, 133)  # 64 / (400 * 1.3) of the frame


def test_the_largest_scale_is_capped() -> None:
    plan = FacePlan.make((3840, 2160), crop(min_face_px=40), SPEC, max_side=960)
    assert max(plan.scales[-1].inner) == 960


def test_views_are_scaled_and_padded_black() -> None:
    plan = FacePlan.make((320, 180), crop(min_face_px=20), SPEC, max_side=960)
    frame = av.VideoFrame.from_ndarray(np.full((180, 320, 3), 200, np.uint8), format="rgb24")
    views = plan.convert(frame)
    # 18 * 320 / 20 = 288: the next multiple of 192 is 384, past the frame: its own size
    assert [x.shape for x in views.detector_inputs] == [(128, 192, 3), (192, 320, 3)]
    small = views.detector_inputs[0]
    assert small[:108].min() >= 195 and small[108:].max() == 0
    assert views.crop_frame.shape == (180, 320, 3)


def test_detections_map_back_to_source_pixels_merge_and_filter() -> None:
    plan = FacePlan.make((1280, 720), crop(min_face_px=40, max_faces=2), SPEC, max_side=960)
    keypoints = np.zeros(12, np.float32)
    row = lambda box, score: np.array([*box, score, *keypoints], np.float32)  # noqa: E731
    base = np.stack([row((10, 10, 30, 30), 0.9)])  # 192 wide: x 6.67 -> 1280: a 133 px face
    large = np.stack([
        row((30, 30, 90, 90), 0.8),  # the same face at 576: merged into the first
        row((300, 100, 310, 110), 0.95),  # 10 px at 576 = 22 px: too small
        row((400, 100, 440, 140), 0.7),  # 89 px
        row((100, 200, 130, 230), 0.65),  # 67 px: over max_faces
    ])
    faces = plan.faces([base, large])
    assert [round(f.score, 2) for f in faces] == [0.9, 0.7]
    np.testing.assert_allclose(faces[0].box, (66.7, 66.7, 200, 200), atol=0.2)
