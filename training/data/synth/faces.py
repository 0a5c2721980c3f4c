"""Faces for the benchmark: the real face photos that ship in packages, composited into scenes.

Two real face photos ship in installable packages, and no face data set does:
scikit-image's ``astronaut`` and matplotlib's ``grace_hopper.jpg``. The service's detector
(through ``training.data.faces``) finds each photo's face box and keypoints once. A
``FaceComposite`` pastes the head (the photo inside a soft ellipse about the face box) into
every frame of a clip, with a face width, position
and brightness that drift mildly over the clip, and knows where the face's box and
keypoints are in every frame: ``face_region`` turns them into the soft mask the
self-blend family blends through.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import av
import numpy as np
from matplotlib import cbook
from PIL import Image
from scipy import ndimage
from scipy.spatial import ConvexHull
from skimage import data as skdata
from skimage import draw

from app.contract.card import FaceCrop
from app.faces.detector import FaceDetector
from app.faces.plan import DEFAULT_MAX_SIDE, Face, FacePlan
from app.faces.registry import DETECTORS
from training.data.faces import face_crops
from training.data.synth.capture import resample

FACE_PHOTOS = ("astronaut", "grace_hopper")
DETECTOR = "blazeface_full_range"
MIN_FACE_PX = 44  # the narrowest composited face: above the usual min_face_px (40)
_HEAD = 1.3  # the head patch spans the face box's centre +- _HEAD box widths
_ELLIPSE = (0.8, 1.05)  # the head's soft ellipse, semi-axes in box widths (x, y)


@functools.cache
def face_photo(name: str) -> np.ndarray:
    """Face photo ``name`` as RGB uint8."""
    if name == "astronaut":
        return np.ascontiguousarray(skdata.astronaut()[..., :3])
    if name == "grace_hopper":
        with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as image:
            return np.asarray(image.convert("RGB"))
    raise ValueError(f"unknown face photo {name!r}; choices: {', '.join(FACE_PHOTOS)}")


@functools.cache
def photo_face(name: str) -> Face:
    """The detector's best face in photo ``name`` (photo pixels)."""
    photo = face_photo(name)
    frame = av.VideoFrame.from_ndarray(photo, format="rgb24")
    crop = FaceCrop(kind="face", detector=DETECTOR, size=64)
    plan = FacePlan.make((frame.width, frame.height), crop, DETECTORS[DETECTOR], DEFAULT_MAX_SIDE)
    found = face_crops(frame, plan, FaceDetector.load(DETECTOR, ["CPUExecutionProvider"], 1))
    if not found:
        raise RuntimeError(f"the detector finds no face in photo {name!r}")
    return max((face for face, _ in found), key=lambda face: face.score)


@dataclass(frozen=True)
class Head:
    """A head cut from a face photo: RGB and a soft alpha (float32), and the face's box
    (x1, y1, x2, y2) and keypoints (K, 2: x, y) in the patch's pixels."""

    rgb: np.ndarray
    alpha: np.ndarray
    box: np.ndarray
    keypoints: np.ndarray

    @property
    def face_width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def centre(self) -> tuple[float, float]:
        """The face box's centre (x, y)."""
        return float(self.box[0] + self.box[2]) / 2, float(self.box[1] + self.box[3]) / 2


@functools.cache
def head(name: str, flip: bool) -> Head:
    """Photo ``name``'s head (mirrored if ``flip``): a square about the face box, the
    photo seen through a blurred ellipse (zero wherever the square leaves the photo)."""
    photo, face = face_photo(name), photo_face(name)
    x1, y1, x2, y2 = face.box
    width, cx, cy = x2 - x1, (x1 + x2) / 2, (y1 + y2) / 2
    half = round(_HEAD * width)
    left, top = round(cx) - half, round(cy) - half
    side = 2 * half + 1
    rgb = np.zeros((side, side, 3), np.float32)
    valid = np.zeros((side, side), np.float32)
    fy = slice(max(top, 0), min(top + side, photo.shape[0]))
    fx = slice(max(left, 0), min(left + side, photo.shape[1]))
    py, px = slice(fy.start - top, fy.stop - top), slice(fx.start - left, fx.stop - left)
    rgb[py, px] = photo[fy, fx] / np.float32(255)
    valid[py, px] = 1
    ellipse = np.zeros_like(valid)
    rr, cc = draw.ellipse(cy - top, cx - left, _ELLIPSE[1] * width, _ELLIPSE[0] * width, shape=valid.shape)
    ellipse[rr, cc] = 1
    alpha = ndimage.gaussian_filter(ellipse * valid, 0.06 * width)
    box = np.array([x1 - left, y1 - top, x2 - left, y2 - top], np.float32)
    keypoints = np.array(face.keypoints, np.float32) - np.array([left, top], np.float32)
    if flip:
        rgb, alpha = rgb[:, ::-1], alpha[:, ::-1]
        box = np.array([side - 1 - box[2], box[1], side - 1 - box[0], box[3]], np.float32)
        keypoints[:, 0] = side - 1 - keypoints[:, 0]
    return Head(np.ascontiguousarray(rgb), np.ascontiguousarray(alpha), box, keypoints)


@dataclass(frozen=True)
class FaceComposite:
    """A head pasted into each frame: face box centre (``cx``, ``cy``) and width (output px)
    per frame, and a colour ``gain`` (brightness and tint, RGB)."""

    head: Head
    cx: np.ndarray
    cy: np.ndarray
    width: np.ndarray
    gain: np.ndarray

    def _to_output(self, points: np.ndarray, t: int) -> np.ndarray:
        """Head-patch points (N, 2: x, y) -> output pixels in frame ``t``."""
        hx, hy = self.head.centre
        scale = self.width[t] / self.head.face_width
        return np.stack([self.cx[t] + (points[:, 0] - hx) * scale,
                         self.cy[t] + (points[:, 1] - hy) * scale], 1)

    def box(self, t: int) -> tuple[float, float, float, float]:
        """The face box (x1, y1, x2, y2) in frame ``t``."""
        (x1, y1), (x2, y2) = self._to_output(self.head.box.reshape(2, 2), t)
        return float(x1), float(y1), float(x2), float(y2)

    def keypoints(self, t: int) -> np.ndarray:
        """The face's keypoints (K, 2: x, y) in frame ``t``."""
        return self._to_output(self.head.keypoints, t)

    def apply(self, frame: np.ndarray, t: int) -> np.ndarray:
        """``frame`` (float RGB) with the head pasted in (bilinear, within its window)."""
        h, w = frame.shape[:2]
        hx, hy = self.head.centre
        scale = self.width[t] / self.head.face_width
        side = self.head.alpha.shape[0]
        y0, y1 = _window(self.cy[t] - hy * scale, self.cy[t] + (side - 1 - hy) * scale, h)
        x0, x1 = _window(self.cx[t] - hx * scale, self.cx[t] + (side - 1 - hx) * scale, w)
        if y1 <= y0 or x1 <= x0:
            return frame
        ys = hy + (np.arange(y0, y1) - self.cy[t]) / scale
        xs = hx + (np.arange(x0, x1) - self.cx[t]) / scale
        rgb = resample(self.head.rgb, ys, xs) * self.gain
        alpha = resample(self.head.alpha, ys, xs)[..., None]
        out = frame.copy()
        out[y0:y1, x0:x1] += alpha * (rgb - out[y0:y1, x0:x1])
        return out


def _window(lo: float, hi: float, extent: int) -> tuple[int, int]:
    return max(0, int(np.ceil(lo))), min(extent, int(np.floor(hi)) + 1)


def face_composite(rng: np.random.Generator, photo: str, frames: int, out_hw: tuple[int, int]
                   ) -> tuple[FaceComposite, dict]:
    """A random composite of ``photo``: a face MIN_FACE_PX to 0.45 x the shorter side wide,
    anywhere it fits, drifting by up to 6% of the frame and 10% in width over the clip,
    lit 0.75-1.2 x with a slight tint; and a JSON-able record of the draw."""
    h, w = out_hw
    short = min(h, w)
    flip = bool(rng.random() < 0.5)
    base = head(photo, flip)
    width0 = rng.uniform(MIN_FACE_PX, max(MIN_FACE_PX, 0.45 * short))
    width1 = max(float(MIN_FACE_PX), width0 * rng.uniform(0.9, 1.1))
    margin = 0.6 * max(width0, width1)  # the face box stays inside the frame
    start = rng.uniform([margin, margin], [w - margin, h - margin])
    end = np.clip(start + rng.uniform(-0.06, 0.06, 2) * short, margin, [w - margin, h - margin])
    t = np.linspace(0.0, 1.0, frames)
    gain = (rng.uniform(0.75, 1.2) * (1 + rng.uniform(-0.04, 0.04, 3))).astype(np.float32)
    smallest = min(width0, width1)
    shrink = base.face_width / smallest
    if shrink > 1:  # low-pass before the paste shrinks the head: no aliasing
        sigma = 0.5 * np.sqrt(shrink**2 - 1)
        base = Head(ndimage.gaussian_filter(base.rgb, (sigma, sigma, 0)),
                    ndimage.gaussian_filter(base.alpha, sigma), base.box, base.keypoints)
    composite = FaceComposite(base, start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t,
                              width0 + (width1 - width0) * t, gain)
    record = {"photo": photo, "flip": flip, "width": [width0, width1], "start": list(start),
              "end": list(end), "gain": list(gain)}
    return composite, record


def face_region(composite: FaceComposite, t: int, out_hw: tuple[int, int], expand: float,
                softness: float) -> np.ndarray:
    """The face's soft mask (H, W) in [0, 1] in frame ``t``: the convex hull of the keypoints
    and the box's top and bottom centres (brow and chin), grown ``expand`` x about its
    centroid, blurred by ``softness`` face widths."""
    x1, y1, x2, y2 = composite.box(t)
    points = np.concatenate([composite.keypoints(t), [[(x1 + x2) / 2, y1], [(x1 + x2) / 2, y2]]])
    hull = points[ConvexHull(points).vertices]
    centroid = hull.mean(axis=0)
    hull = centroid + (hull - centroid) * expand
    mask = np.zeros(out_hw, np.float32)
    rr, cc = draw.polygon(hull[:, 1], hull[:, 0], out_hw)
    mask[rr, cc] = 1
    return ndimage.gaussian_filter(mask, softness * (x2 - x1))
