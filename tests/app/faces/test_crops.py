"""The one cropper: the region it cuts, black beyond the frame, swscale to the input size."""

from __future__ import annotations

import numpy as np
import pytest

from app.contract.card import FaceCrop
from app.faces.crops import combine, crop_region, cut_face


def crop(**kwargs: object) -> FaceCrop:
    return FaceCrop(kind="face", detector="blazeface_full_range", **({"size": 32} | kwargs))


def test_region_is_squared_then_scaled_about_the_centre() -> None:
    assert crop_region((10, 20, 30, 60), crop(margin=1.5)) == (-10, 10, 50, 70)
    assert crop_region((10, 20, 30, 60), crop(margin=1.0, square=False)) == (10, 20, 30, 60)


def test_a_region_the_size_of_the_output_is_the_frame_itself() -> None:
    frame = np.random.default_rng(0).integers(0, 256, (100, 120, 3), dtype=np.uint8)
    cut = cut_face(frame, (120, 100), (40, 30, 72, 62), crop(margin=1.0))
    np.testing.assert_array_equal(cut, frame[30:62, 40:72])


def test_beyond_the_edge_is_black_and_scale_follows_the_crop_frame() -> None:
    frame = np.full((50, 60, 3), 255, np.uint8)  # the source is 120 x 100: this frame is half
    cut = cut_face(frame, (120, 100), (-32, -32, 32, 32), crop(margin=1.0))
    assert cut.shape == (32, 32, 3)
    assert cut[:14, :14].max() == 0 and cut[18:, 18:].min() == 255


def test_combine() -> None:
    assert combine([0.2, 0.9], "max") == 0.9
    assert combine([0.2, 0.9], "mean") == pytest.approx(0.55)
    with pytest.raises(ValueError, match="choices"):
        combine([0.2], "median")
