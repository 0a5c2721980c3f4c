"""The simulated camera: pan/zoom over a canvas, lighting drift, sensor noise, in-camera ISP.

All frames are float32 RGB in [0, 1] (values may leave the range until quantised).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


def resample(image: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Bilinear samples ``image[ys[i], xs[j]]`` on a separable grid (edges clamp).

    Scale-and-translate warps are separable, which makes this ~4x cheaper than
    ``scipy.ndimage.affine_transform``.
    """
    h, w = image.shape[:2]
    ys = np.clip(ys, 0, h - 1)
    xs = np.clip(xs, 0, w - 1)
    y0 = np.minimum(np.floor(ys).astype(np.intp), h - 2) if h > 1 else np.zeros_like(ys, int)
    x0 = np.minimum(np.floor(xs).astype(np.intp), w - 2) if w > 1 else np.zeros_like(xs, int)
    wy, wx = (ys - y0).astype(np.float32), (xs - x0).astype(np.float32)
    lo, hi = int(x0.min()), int(x0.max()) + 2
    band = image[:, lo:hi]
    shape = (-1,) + (1,) * (image.ndim - 1)
    rows = band[y0] * (1 - wy).reshape(shape) + band[np.minimum(y0 + 1, h - 1)] * wy.reshape(shape)
    x0 = x0 - lo
    x1 = np.minimum(x0 + 1, rows.shape[1] - 1)
    shape = (1, -1) + (1,) * (image.ndim - 2)
    return rows[:, x0] * (1 - wx).reshape(shape) + rows[:, x1] * wx.reshape(shape)


@dataclass(frozen=True)
class CameraPath:
    """Per frame: the canvas point at the view's centre (cy, cx) and canvas px per output px."""

    cy: np.ndarray
    cx: np.ndarray
    scale: np.ndarray
    out_h: int
    out_w: int

    def render(self, canvas: np.ndarray, t: int) -> np.ndarray:
        ys = self.cy[t] + (np.arange(self.out_h) - (self.out_h - 1) / 2) * self.scale[t]
        xs = self.cx[t] + (np.arange(self.out_w) - (self.out_w - 1) / 2) * self.scale[t]
        return resample(canvas, ys, xs)

    def to_output(self, py: float, px: float, t: int) -> tuple[float, float]:
        """Where canvas point (py, px) appears in output frame ``t``."""
        s = self.scale[t]
        return ((py - self.cy[t]) / s + (self.out_h - 1) / 2,
                (px - self.cx[t]) / s + (self.out_w - 1) / 2)

    def to_canvas(self, oy: float, ox: float, t: int) -> tuple[float, float]:
        s = self.scale[t]
        return (self.cy[t] + (oy - (self.out_h - 1) / 2) * s,
                self.cx[t] + (ox - (self.out_w - 1) / 2) * s)


def camera_path(rng: np.random.Generator, frames: int, canvas_hw: tuple[int, int],
                out_hw: tuple[int, int]) -> CameraPath:
    """A random static, panning and/or zooming view with hand-held shake."""
    (ch, cw), (oh, ow) = canvas_hw, out_hw
    vmax = 0.98 * min((ch - 1) / (oh - 1), (cw - 1) / (ow - 1))
    v0 = vmax * rng.uniform(0.55, 0.95)
    v1 = float(np.clip(v0 * rng.uniform(0.85, 1.15), 0.3 * vmax, vmax))
    t = np.linspace(0.0, 1.0, frames)
    ease = t * t * (3 - 2 * t) if rng.random() < 0.5 else t
    scale = v0 + (v1 - v0) * ease
    pan = rng.uniform(0.0, 0.6) if rng.random() < 0.75 else 0.0
    out = []
    for extent, half in ((ch, (oh - 1) / 2), (cw, (ow - 1) / 2)):
        u0 = rng.uniform(0, 1)
        u1 = float(np.clip(u0 + rng.choice([-1, 1]) * pan, 0, 1))
        shake = ndimage.gaussian_filter1d(rng.standard_normal(frames), 2.0, mode="nearest")
        shake *= rng.uniform(0.0, 1.5) * scale / (shake.std() + 1e-8)
        lo, hi = half * scale, extent - 1 - half * scale
        out.append(np.clip(lo + (u0 + (u1 - u0) * ease) * (hi - lo) + shake, lo, hi))
    return CameraPath(out[0], out[1], scale, oh, ow)


@dataclass(frozen=True)
class Lighting:
    """Slow exposure and white-balance drift, and a fixed vignette."""

    gain: np.ndarray  # (T,)
    white: np.ndarray  # (T, 3)
    vignette: np.ndarray  # (H, W, 1)

    def apply(self, frame: np.ndarray, t: int) -> np.ndarray:
        return frame * (self.gain[t] * self.white[t]) * self.vignette


def lighting(rng: np.random.Generator, frames: int, out_hw: tuple[int, int]) -> Lighting:
    t = np.arange(frames) / max(frames - 1, 1)
    gain = 1 + rng.uniform(0, 0.08) * np.sin(2 * np.pi * rng.uniform(0.2, 1.5) * t
                                             + rng.uniform(0, 2 * np.pi))
    gain *= rng.uniform(0.9, 1.1)
    walk = ndimage.gaussian_filter1d(rng.standard_normal((frames, 3)), 4.0, axis=0,
                                     mode="nearest")
    white = 1 + rng.uniform(0, 0.03) * walk / (walk.std() + 1e-8)
    yy, xx = np.mgrid[0:out_hw[0], 0:out_hw[1]].astype(np.float32)
    r2 = ((yy / out_hw[0] - 0.5) ** 2 + (xx / out_hw[1] - 0.5) ** 2) * 2
    vignette = (1 - rng.uniform(0, 0.3) * r2)[..., None]
    return Lighting(gain.astype(np.float32), white.astype(np.float32), vignette)


def unit_noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Zero-mean, unit-variance noise: the sum of two uniform bytes (triangular).

    Four times cheaper than ``standard_normal`` here; after scaling, quantisation and
    H.264 the shape of the distribution is not what a detector could see.
    """
    size = int(np.prod(shape))
    raw = np.frombuffer(rng.bytes(2 * size), np.uint8).reshape(2, *shape)
    return (raw[0].astype(np.float32) + raw[1] - np.float32(255)) * np.float32(
        1 / np.sqrt(2 * (256**2 - 1) / 12))


@dataclass(frozen=True)
class Sensor:
    """Poisson-Gaussian noise (variance a*x + b), partly shared across channels, then an
    optional in-camera sharpening or softening applied to the whole frame."""

    shot: float
    read: float
    chroma: float
    sharpen: float  # > 0 unsharp amount, < 0 blur sigma, 0 none

    def apply(self, frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        sigma = np.sqrt(self.shot * np.clip(frame, 0, 1) + self.read)
        noise = unit_noise(rng, frame.shape)
        shared = (noise[..., :1] + noise[..., 1:2] + noise[..., 2:]) * np.float32(1 / np.sqrt(3))
        out = frame + sigma * (shared * (1 - self.chroma) + noise * self.chroma)
        if self.sharpen > 0:
            out = out + self.sharpen * (out - ndimage.gaussian_filter(out, (1.0, 1.0, 0)))
        elif self.sharpen < 0:
            out = ndimage.gaussian_filter(out, (-self.sharpen, -self.sharpen, 0))
        return out


def sensor(rng: np.random.Generator, isp_probability: float) -> Sensor:
    shot = float(10 ** rng.uniform(-4.0, -2.7))
    read = float(10 ** rng.uniform(-6.0, -4.3))
    sharpen = 0.0
    if rng.random() < isp_probability:
        sharpen = rng.uniform(0.2, 0.8) if rng.random() < 0.6 else -rng.uniform(0.3, 0.8)
    return Sensor(shot, read, float(rng.uniform(0.2, 0.5)), float(sharpen))
