import dataclasses

import numpy as np
import pytest
from scipy import ndimage

from training.data.synth.capture import CameraPath, resample
from training.data.synth.manipulations import (
    SelfBlend,
    Upsample,
    colour_matrix,
    random_region,
    upsample_fingerprint,
    upsample_kernel,
)
from training.data.synth.recipes import make_manipulation


def _static_camera(size: int = 64, frames: int = 4) -> CameraPath:
    centre = np.full(frames, (size - 1) / 2)
    return CameraPath(centre, centre.copy(), np.ones(frames), size, size)


def _frame(seed: int = 0, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    smooth = ndimage.gaussian_filter(rng.random((size, size, 3)), (2, 2, 0))
    return (0.2 + 0.6 * (smooth - smooth.min()) / np.ptp(smooth)).astype(np.float32)


def test_resample_matches_bilinear_interpolation():
    image = np.random.default_rng(0).random((20, 30, 3)).astype(np.float32)
    ys, xs = np.linspace(0.3, 18.7, 11), np.linspace(1.2, 27.9, 13)
    expected = np.stack([ndimage.map_coordinates(image[..., c], np.meshgrid(ys, xs, indexing="ij"),
                                                 order=1) for c in range(3)], -1)
    np.testing.assert_allclose(resample(image, ys, xs), expected, atol=1e-5)


def test_colour_matrix():
    np.testing.assert_allclose(colour_matrix(0, 1, 1), np.eye(3), atol=1e-6)
    red_to_green = colour_matrix(120, 1, 1) @ np.array([1.0, 0, 0])
    np.testing.assert_allclose(red_to_green, [0, 1, 0], atol=1e-6)
    np.testing.assert_allclose(colour_matrix(0, 0, 1) @ np.array([1.0, 0, 0]), [1 / 3] * 3)


@pytest.mark.parametrize("factor", [2, 3, 4])
@pytest.mark.parametrize("kind", ["nearest", "bilinear"])
def test_interpolating_kernels_have_equal_polyphase_sums(factor, kind):
    taps = upsample_kernel(factor, kind, 0.0, np.random.default_rng(0))
    assert taps.sum() == pytest.approx(factor)
    padded = np.concatenate([taps, np.zeros(-taps.size % factor)])
    np.testing.assert_allclose(padded.reshape(-1, factor).sum(0), 1.0, atol=1e-6)


def _peak_ratio(image: np.ndarray, factor: int) -> float:
    """Spectral energy at the first up-sampling frequency 1/factor vs around it."""
    grey = image.mean(-1) - image.mean()
    power = np.abs(np.fft.fft2(grey)) ** 2
    n = grey.shape[0]
    k = n // factor
    peak = power[k, :].sum() + power[:, k].sum()
    near = sum(power[j, :].sum() + power[:, j].sum() for j in (k - 3, k + 3))
    return float(peak / (near / 2))


def test_learned_kernel_leaves_periodic_spectral_peaks():
    rng = np.random.default_rng(1)
    image = rng.random((96, 96, 3)).astype(np.float32)
    kernel = upsample_kernel(2, "learned", 0.3, np.random.default_rng(3))
    generated = upsample_fingerprint(image, 2, kernel)
    assert generated.shape == image.shape
    assert _peak_ratio(generated, 2) > 5 * _peak_ratio(image, 2)
    blocky = upsample_fingerprint(image, 3, upsample_kernel(3, "nearest", 0.0, rng))
    for axis in (0, 1):  # nearest: 3x3 blocks, so 2 of every 3 neighbour steps are flat
        flat = np.all(np.diff(blocky, axis=axis) == 0, axis=(1 - axis, 2))
        assert flat.mean() == pytest.approx(2 / 3, abs=0.02)


def test_self_blend_stays_inside_its_soft_mask():
    camera, frame = _static_camera(), _frame()
    rng = np.random.default_rng(2)
    region = random_region(rng, camera, (0.2, 0.25))
    edit = SelfBlend(region, hue=8.0, saturation=1.2, contrast=0.9,
                     offset=np.full(3, 0.03, np.float32), frequency=-1.0, scale=(1.03, 0.98),
                     shift=(1.0, -1.0), alpha=0.8, flicker=0.0, seed=0)
    out = edit.apply(frame, camera, 0)
    mask = region.mask(camera, 0)
    change = np.abs(out - frame).max(-1)
    assert change[mask > 0.5].mean() > 0.02
    assert change[mask == 0].max() == 0
    assert change[mask < 1e-3].max() < 1e-3
    np.testing.assert_array_equal(edit.apply(frame, camera, 3), out)  # static edit


def test_region_follows_the_camera():
    frames = 3
    camera = CameraPath(np.full(frames, 40.0), np.array([40.0, 45.0, 50.0]), np.ones(frames),
                        48, 48)
    region = random_region(np.random.default_rng(0), camera, (0.2, 0.2))
    centres = [ndimage.center_of_mass(region.mask(camera, t))[1] for t in range(frames)]
    assert centres[0] - centres[1] == pytest.approx(5, abs=0.3)
    assert centres[1] - centres[2] == pytest.approx(5, abs=0.3)


@pytest.mark.parametrize("inner", ["sbi", "upsample"])
def test_flicker_redraws_the_edit_every_frame(inner):
    camera, frame = _static_camera(), _frame(3)
    for seed in range(50):  # find a draw of the wanted inner family
        edit, record = make_manipulation("flicker", 0.7, np.random.default_rng(seed), camera)
        if record["inner"] == inner:
            break
    assert record["flicker"] >= 0.3
    edits = [edit.apply(frame, camera, t) - frame for t in range(3)]
    assert np.abs(edits[0] - edits[1]).mean() > 0.05 * np.abs(edits[0]).mean()
    steady = dataclasses.replace(edit, flicker=0.0)
    np.testing.assert_array_equal(steady.apply(frame, camera, 0), steady.apply(frame, camera, 2))


def test_families_record_their_draws():
    camera = _static_camera()
    for family in ("sbi", "upsample", "flicker"):
        edit, record = make_manipulation(family, 0.5, np.random.default_rng(0), camera)
        assert isinstance(edit, (SelfBlend, Upsample)) and record["inner"] in ("sbi", "upsample")
    with pytest.raises(ValueError, match="unknown family 'gan'"):
        make_manipulation("gan", 0.5, np.random.default_rng(0), camera)
