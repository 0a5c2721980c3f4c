"""Content for authentic clips: real photographs shipped in packages, and procedural scenes.

Photos come from scikit-image's bundled samples (only those that load without a
download; nothing optional, so the same seed gives the same dataset wherever
scikit-image is installed). Grey photos are given a random duotone tint. Procedural
scenes are a 1/f-noise textured gradient with shaded, textured shapes: their spectra
fall off like natural images'. Everything is float32 RGB in [0, 1].
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage import data as skdata
from skimage import draw

# name -> loader; names sharing a scene (the stereo pair) share a group via PHOTO_GROUPS.
_COLOUR = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field",
           "immunohistochemistry", "retina")
_GREY = ("camera", "moon", "coins", "page", "text", "clock", "cell", "brick", "grass",
         "gravel")
PHOTO_GROUPS = {"motorcycle_left": "motorcycle", "motorcycle_right": "motorcycle"}


@functools.cache
def photo_names() -> tuple[str, ...]:
    """The bundled photos, in a fixed order."""
    return (*_COLOUR, "motorcycle_left", "motorcycle_right", *_GREY)


def photo_group(name: str) -> str:
    return f"photo:{PHOTO_GROUPS.get(name, name)}"


@functools.cache
def _load_photo(name: str) -> np.ndarray:
    if name.startswith("motorcycle_"):
        image = skdata.stereo_motorcycle()[0 if name.endswith("left") else 1]
    else:
        image = getattr(skdata, name)()
    image = np.asarray(image)
    return np.ascontiguousarray(image[..., :3] if image.ndim == 3 else image, dtype=np.uint8)


def photo_canvas(name: str, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A random crop of photo ``name`` (flipped, grey ones tinted), resized to the canvas."""
    image = _load_photo(name)
    h, w = image.shape[:2]
    frac = rng.uniform(0.65, 1.0)
    ch = min(h, int(round(min(h, w * height / width) * frac)))
    cw = min(w, int(round(ch * width / height)))
    y0, x0 = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    crop = np.ascontiguousarray(image[y0:y0 + ch, x0:x0 + cw])
    resized = Image.fromarray(crop).resize((width, height), Image.Resampling.LANCZOS)
    out = np.asarray(resized, dtype=np.float32) / 255.0
    if rng.random() < 0.5:
        out = out[:, ::-1]
    if out.ndim == 2:
        dark, light = rng.uniform(0.0, 0.25, 3), rng.uniform(0.75, 1.0, 3)
        out = dark + out[..., None] * (light - dark)
    return np.ascontiguousarray(out, dtype=np.float32)


def pink_noise(rng: np.random.Generator, height: int, width: int, beta: float) -> np.ndarray:
    """Zero-mean, unit-std noise with a 1/f^beta power spectrum (beta ~ 2: natural images)."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    radius = np.sqrt(fy**2 + fx**2)
    radius[0, 0] = 1.0
    spectrum = np.fft.rfft2(rng.standard_normal((height, width))) / radius ** (beta / 2)
    spectrum[0, 0] = 0.0
    field = np.fft.irfft2(spectrum, s=(height, width))
    return (field / (field.std() + 1e-8)).astype(np.float32)


def procedural_canvas(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A gradient background with 1/f texture, then 3-10 shaded, textured shapes."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx / width + np.sin(angle) * yy / height)
    ramp = (ramp - ramp.min()) / (np.ptp(ramp) + 1e-8)
    c0, c1 = rng.uniform(0.05, 0.95, 3), rng.uniform(0.05, 0.95, 3)
    canvas = c0 + ramp[..., None] * (c1 - c0)
    canvas += rng.uniform(0.03, 0.12) * pink_noise(rng, height, width, rng.uniform(1.6, 2.4))[
        ..., None] * rng.uniform(0.6, 1.0, 3)
    for _ in range(rng.integers(3, 11)):
        mask = _shape_mask(rng, height, width)
        fill = _texture(rng, height, width, yy, xx)
        canvas = canvas * (1 - mask[..., None]) + fill * mask[..., None]
    if rng.random() < 0.3:  # shallow depth of field
        canvas = ndimage.gaussian_filter(canvas, (rng.uniform(0.5, 1.5),) * 2 + (0,))
    return np.clip(canvas, 0.0, 1.0).astype(np.float32)


def _shape_mask(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), np.float32)
    cy, cx = rng.uniform(0, height), rng.uniform(0, width)
    ry, rx = rng.uniform(0.06, 0.3) * height, rng.uniform(0.06, 0.3) * width
    kind = rng.integers(3)
    if kind == 0:
        rr, cc = draw.ellipse(cy, cx, ry, rx, shape=mask.shape, rotation=rng.uniform(0, np.pi))
    else:
        count = 4 if kind == 1 else rng.integers(3, 8)
        angles = np.sort(rng.uniform(0, 2 * np.pi, count)) if kind == 2 else (
            np.arange(4) * np.pi / 2 + rng.uniform(0, np.pi / 2))
        rr, cc = draw.polygon(cy + ry * np.sin(angles), cx + rx * np.cos(angles), mask.shape)
    mask[rr, cc] = 1.0
    return ndimage.gaussian_filter(mask, rng.uniform(0.5, 1.2))


def _texture(rng: np.random.Generator, height: int, width: int, yy: np.ndarray,
             xx: np.ndarray) -> np.ndarray:
    """A shaded fill: flat, stripes, checks or 1/f noise, lit from a random side."""
    base = rng.uniform(0.05, 0.95, 3).astype(np.float32)
    kind = rng.integers(4)
    if kind == 1:
        freq, angle = rng.uniform(0.02, 0.15), rng.uniform(0, np.pi)
        pattern = np.sin(2 * np.pi * freq * (np.cos(angle) * xx + np.sin(angle) * yy))
    elif kind == 2:
        period = rng.uniform(6, 30)
        pattern = np.sign(np.sin(np.pi * xx / period) * np.sin(np.pi * yy / period))
        pattern = ndimage.gaussian_filter(pattern, 0.7)
    elif kind == 3:
        pattern = pink_noise(rng, height, width, rng.uniform(1.2, 2.2))
    else:
        pattern = np.zeros_like(xx)
    light = rng.uniform(0, 2 * np.pi)
    shade = 1 + 0.25 * (np.cos(light) * (xx / width - 0.5) + np.sin(light) * (yy / height - 0.5))
    amp = rng.uniform(0.03, 0.2)
    return (base * shade[..., None] + amp * pattern[..., None]).astype(np.float32)
