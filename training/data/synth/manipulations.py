"""Manipulation families applied to camera frames before encoding.

* ``SelfBlend``: the self-blended images idea (Shiohara & Yamasaki, "Detecting
  Deepfakes with Self-Blended Images", CVPR 2022), re-derived: a copy of the frame is
  jittered in colour (hue, saturation, brightness, contrast, RGB shift), frequency (blur
  or sharpen) and geometry (small scale and translation), then blended back through a
  soft, randomly shaped mask (an ellipse or the convex hull of random points, blurred).
* ``FaceSelfBlend``: the same on a composited face (``training.data.synth.faces``), as the
  paper does: the mask is the face region found from the detector's keypoints (their
  convex hull with brow and chin, grown and blurred), so only the face changes.
* ``Upsample``: generator up-sampling fingerprints: a region (or the whole frame) is
  average-pooled by 2-4x and brought back by zero insertion and a small fixed kernel
  (nearest, bilinear, or a "learned" kernel whose polyphase sums differ, as a transposed
  convolution's do), leaving periodic peaks in the spectrum at multiples of 1/factor.
* Either with ``flicker > 0``: the edit is re-drawn every frame (blend strength, colour,
  mask position and size jitter frame to frame), as frame-by-frame generators do.

Everything is tied to a ``Region`` that follows the content as the camera moves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull
from skimage import draw

from training.data.synth.capture import CameraPath, resample
from training.data.synth.faces import FaceComposite, face_region

_EXTENT = 1.6  # the base mask covers [-EXTENT, EXTENT]^2 in units of the region radius
_BASE = 96


@dataclass(frozen=True)
class Region:
    """A soft mask pinned to a canvas point, drawn at ``radius`` canvas px."""

    base: np.ndarray  # (_BASE, _BASE) in [0, 1], zero at the border
    py: float
    px: float
    radius: float

    def mask(self, camera: CameraPath, t: int, dy: float = 0.0, dx: float = 0.0,
             grow: float = 1.0) -> np.ndarray:
        oy, ox = camera.to_output(self.py, self.px, t)
        r = self.radius / camera.scale[t] * grow
        to_base = (_BASE - 1) / (2 * _EXTENT)
        ys = ((np.arange(camera.out_h) - oy - dy) / r + _EXTENT) * to_base
        xs = ((np.arange(camera.out_w) - ox - dx) / r + _EXTENT) * to_base
        return resample(self.base, ys, xs)


def random_region(rng: np.random.Generator, camera: CameraPath,
                  radius: tuple[float, float]) -> Region:
    """A random ellipse or convex hull, blurred, placed near the first frame's centre."""
    half = (_BASE - 1) / 2
    unit = half / _EXTENT
    base = np.zeros((_BASE, _BASE), np.float32)
    if rng.random() < 0.5:
        rr, cc = draw.ellipse(half, half, unit * rng.uniform(0.6, 1.0), unit,
                              shape=base.shape, rotation=rng.uniform(0, np.pi))
    else:
        angle = rng.uniform(0, 2 * np.pi, rng.integers(6, 16))
        dist = np.sqrt(rng.uniform(0.3, 1.0, angle.size))
        points = np.stack([half + unit * dist * np.sin(angle),
                           half + unit * dist * np.cos(angle)], 1)
        hull = points[ConvexHull(points).vertices]
        rr, cc = draw.polygon(hull[:, 0], hull[:, 1], base.shape)
    base[rr, cc] = 1.0
    base = ndimage.gaussian_filter(base, unit * rng.uniform(0.08, 0.3))
    base /= max(float(base.max()), 1e-6)
    size = min(camera.out_h, camera.out_w)
    oy = camera.out_h * rng.uniform(0.3, 0.7)
    ox = camera.out_w * rng.uniform(0.3, 0.7)
    py, px = camera.to_canvas(oy, ox, 0)
    return Region(base, py, px, size * rng.uniform(*radius) * float(camera.scale[0]))


def colour_matrix(hue_deg: float, saturation: float, contrast: float) -> np.ndarray:
    """3x3 RGB matrix: hue rotation about the grey axis, saturation, contrast."""
    theta = np.deg2rad(hue_deg)
    k = np.full(3, 1 / np.sqrt(3))
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    rotate = (np.cos(theta) * np.eye(3) + np.sin(theta) * cross
              + (1 - np.cos(theta)) * np.outer(k, k))
    grey = np.full((3, 3), 1 / 3)
    return (contrast * (saturation * np.eye(3) + (1 - saturation) * grey) @ rotate).astype(
        np.float32)


def _frame_rng(seed: int, t: int) -> np.random.Generator:
    return np.random.default_rng([seed, t])


@dataclass(frozen=True)
class SelfBlend:
    region: Region
    hue: float
    saturation: float
    contrast: float
    offset: np.ndarray  # (3,) brightness + RGB shift
    frequency: float  # > 0 unsharp amount, < 0 blur sigma
    scale: tuple[float, float]
    shift: tuple[float, float]  # output px
    alpha: float
    flicker: float
    seed: int

    def apply(self, frame: np.ndarray, camera: CameraPath, t: int) -> np.ndarray:
        j = _frame_rng(self.seed, t).standard_normal(8) * self.flicker
        size = min(camera.out_h, camera.out_w)
        mask = self.region.mask(camera, t, j[0] * 0.02 * size, j[1] * 0.02 * size,
                                1 + 0.08 * j[2])
        oy, ox = camera.to_output(self.region.py, self.region.px, t)
        matrix = colour_matrix(self.hue * (1 + j[3]), 1 + (self.saturation - 1) * (1 + j[4]),
                               1 + (self.contrast - 1) * (1 + j[5]))
        offset = self.offset * (1 + j[6]) + 0.5 * (1 - matrix.sum(1))  # pivot at grey
        source = jittered(frame, (oy, ox), self.scale, self.shift, matrix, offset, self.frequency)
        alpha = float(np.clip(self.alpha * (1 + 0.5 * j[7]), 0.0, 1.0))
        return frame + (alpha * mask)[..., None] * (source - frame)


def jittered(frame: np.ndarray, centre: tuple[float, float], scale: tuple[float, float],
             shift: tuple[float, float], matrix: np.ndarray, offset: np.ndarray,
             frequency: float) -> np.ndarray:
    """The self-blend's source: ``frame`` scaled about ``centre`` (y, x) and shifted (px),
    colour-mapped (``matrix``, ``offset``), then sharpened (``frequency`` > 0, the unsharp
    amount) or blurred (< 0, the sigma)."""
    oy, ox = centre
    ys = oy + (np.arange(frame.shape[0]) - oy) / scale[0] - shift[0]
    xs = ox + (np.arange(frame.shape[1]) - ox) / scale[1] - shift[1]
    source = resample(frame, ys, xs)
    source = source @ matrix.T + offset.astype(np.float32)
    if frequency > 0:
        blur = ndimage.gaussian_filter(source, (1.0, 1.0, 0))
        source = source + frequency * (source - blur)
    elif frequency < 0:
        source = ndimage.gaussian_filter(source, (-frequency, -frequency, 0))
    return source


@dataclass(frozen=True)
class FaceSelfBlend:
    """A composited face, jittered as ``SelfBlend``'s source (about the face's centre) and
    blended back through ``face_region`` (grown ``expand`` x, blurred ``softness`` face
    widths); the same draw on every frame, the region following the face."""

    composite: FaceComposite
    expand: float
    softness: float
    hue: float
    saturation: float
    contrast: float
    offset: np.ndarray
    frequency: float
    scale: tuple[float, float]
    shift: tuple[float, float]
    alpha: float

    def region(self, frame_hw: tuple[int, int], t: int) -> np.ndarray:
        """The blend mask (H, W) of frame ``t``: zero outside the face region."""
        return face_region(self.composite, t, frame_hw, self.expand, self.softness)

    def apply(self, frame: np.ndarray, camera: CameraPath, t: int) -> np.ndarray:
        """Frame ``t`` blended (``camera`` unused: the composite knows where the face is)."""
        mask = self.region(frame.shape[:2], t)
        x1, y1, x2, y2 = self.composite.box(t)
        matrix = colour_matrix(self.hue, self.saturation, self.contrast)
        offset = self.offset + 0.5 * (1 - matrix.sum(1))  # pivot at grey
        source = jittered(frame, ((y1 + y2) / 2, (x1 + x2) / 2), self.scale, self.shift, matrix,
                          offset, self.frequency)
        return frame + (self.alpha * mask)[..., None] * (source - frame)


def upsample_kernel(factor: int, kind: str, imbalance: float,
                    rng: np.random.Generator) -> np.ndarray:
    """1-D interpolation kernel for zero insertion by ``factor``; taps sum to ``factor``.

    nearest: a box; bilinear: a tent; learned: a tent with random tap errors, so its
    polyphase components no longer sum to 1 (the transposed-convolution checkerboard).
    """
    if kind == "nearest":
        taps = np.ones(factor)
    else:
        n = np.arange(-(factor - 1), factor)
        taps = 1 - np.abs(n) / factor
        if kind == "learned":
            taps = taps * (1 + imbalance * rng.standard_normal(taps.size))
    return (taps * factor / taps.sum()).astype(np.float32)


def upsample_fingerprint(frame: np.ndarray, factor: int, kernel: np.ndarray) -> np.ndarray:
    """Average-pool by ``factor``, then zero-insert and filter with ``kernel`` per axis."""
    h, w = frame.shape[:2]
    ph, pw = -h % factor, -w % factor
    padded = np.pad(frame, ((0, ph), (0, pw), (0, 0)), mode="edge")
    small = padded.reshape((h + ph) // factor, factor, (w + pw) // factor, factor, 3).mean((1, 3))
    zeros = np.zeros_like(padded)
    zeros[::factor, ::factor] = small
    out = ndimage.convolve1d(zeros, kernel, axis=0, mode="wrap")
    out = ndimage.convolve1d(out, kernel, axis=1, mode="wrap")
    return out[:h, :w]


@dataclass(frozen=True)
class Upsample:
    region: Region | None  # None: the whole frame
    factor: int
    kernel: np.ndarray
    beta: float
    flicker: float
    seed: int

    def apply(self, frame: np.ndarray, camera: CameraPath, t: int) -> np.ndarray:
        j = _frame_rng(self.seed, t).standard_normal(4) * self.flicker
        generated = upsample_fingerprint(frame, self.factor, self.kernel)
        beta = float(np.clip(self.beta * (1 + 0.5 * j[0]), 0.0, 1.0))
        if self.region is None:
            return frame + beta * (generated - frame)
        size = min(camera.out_h, camera.out_w)
        mask = self.region.mask(camera, t, j[1] * 0.02 * size, j[2] * 0.02 * size,
                                1 + 0.08 * j[3])
        return frame + (beta * mask)[..., None] * (generated - frame)


Manipulation = SelfBlend | FaceSelfBlend | Upsample
