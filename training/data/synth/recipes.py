"""How difficulty and strength turn into random parameters for clips and manipulations.

``difficulty`` in [0, 1] moves every range at once: weaker edits, softer masks, more
edits hidden under sensor noise, heavier compression, more in-camera sharpening or
blur on authentic clips (a look-alike of the edits' frequency changes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.data.synth.capture import CameraPath
from training.data.synth.faces import FaceComposite
from training.data.synth.manipulations import (
    FaceSelfBlend,
    Manipulation,
    SelfBlend,
    Upsample,
    random_region,
    upsample_kernel,
)

FAMILIES = ("sbi", "upsample", "flicker")
FACE_FAMILY = "face_sbi"  # the family of every synthetic face clip


def _lerp(a: float, b: float, d: float) -> float:
    return a + (b - a) * d


@dataclass(frozen=True)
class Ranges:
    """The random ranges one difficulty level implies."""

    strength: tuple[float, float]  # edit strength in [0, 1]
    crf: tuple[int, int]  # x264 constant rate factor
    edit_under_noise: float  # probability the edit happens before sensor noise
    isp: float  # probability of in-camera sharpen/blur (all clips)

    @classmethod
    def for_difficulty(cls, difficulty: float) -> Ranges:
        if not 0.0 <= difficulty <= 1.0:
            raise ValueError(f"difficulty must be in [0, 1], got {difficulty}")
        d = difficulty
        return cls(
            strength=(_lerp(0.6, 0.1, d), _lerp(1.0, 0.55, d)),
            crf=(round(_lerp(18, 24, d)), round(_lerp(26, 34, d))),
            edit_under_noise=_lerp(0.2, 0.8, d),
            isp=_lerp(0.2, 0.6, d),
        )


def make_manipulation(family: str, strength: float, rng: np.random.Generator,
                      camera: CameraPath) -> tuple[Manipulation, dict]:
    """A manipulation of ``family`` at ``strength`` and a JSON-able record of its draw."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choices: {', '.join(FAMILIES)}")
    s = strength
    flicker = rng.uniform(0.3, 0.8) if family == "flicker" else 0.0
    inner = family if family != "flicker" else ("sbi", "upsample")[rng.integers(2)]
    seed = int(rng.integers(2**31))
    if inner == "sbi":
        frequency = _blend_frequency(rng, s)
        region = random_region(rng, camera, (0.15, 0.32))
        jitter = _blend_jitter(rng, s, min(camera.out_h, camera.out_w), frequency)
        edit = SelfBlend(region=region, **jitter, flicker=float(flicker), seed=seed)
        record = _blend_record(edit)
    else:
        factor = int(rng.choice([2, 3, 4], p=[0.6, 0.25, 0.15]))
        kind = str(rng.choice(["nearest", "bilinear", "learned"], p=[0.3, 0.3, 0.4]))
        imbalance = float(rng.uniform(0.05, 0.05 + 0.25 * s))
        whole = rng.random() < 0.35
        edit = Upsample(
            region=None if whole else random_region(rng, camera, (0.2, 0.4)),
            factor=factor,
            kernel=upsample_kernel(factor, kind, imbalance, rng),
            beta=float(rng.uniform(0.3 + 0.4 * s, 0.6 + 0.4 * s)),
            flicker=float(flicker),
            seed=seed,
        )
        record = {"factor": factor, "kernel": kind, "imbalance": imbalance,
                  "whole_frame": bool(whole), "beta": edit.beta}
    return edit, {"inner": inner, "flicker": float(flicker), **record}


def make_face_blend(strength: float, rng: np.random.Generator, composite: FaceComposite,
                    size: int) -> tuple[FaceSelfBlend, dict]:
    """The face self-blend of ``composite`` at ``strength`` (``size``: the frame's shorter
    side) and a JSON-able record of its draw."""
    expand = float(rng.uniform(1.05, 1.3))
    softness = float(rng.uniform(0.03, 0.1))
    edit = FaceSelfBlend(composite=composite, expand=expand, softness=softness,
                         **_blend_jitter(rng, strength, size, _blend_frequency(rng, strength)))
    return edit, {"inner": FACE_FAMILY, "expand": expand, "softness": softness,
                  **_blend_record(edit)}


def _blend_frequency(rng: np.random.Generator, s: float) -> float:
    """A self-blend's sharpening (> 0) or blur (< 0) at strength ``s``."""
    return float(rng.uniform(0.2, 0.2 + s) if rng.random() < 0.5 else -rng.uniform(0.3, 0.3 + s))


def _blend_jitter(rng: np.random.Generator, s: float, size: int, frequency: float) -> dict:
    """A self-blend's colour and geometry jitter at strength ``s``, with ``frequency``."""
    return {
        "hue": float(rng.choice([-1, 1]) * rng.uniform(1, 1 + 8 * s)),
        "saturation": float(1 + rng.uniform(-0.25, 0.25) * s),
        "contrast": float(1 + rng.uniform(-0.2, 0.2) * s),
        "offset": (rng.uniform(-0.05, 0.05) * s + rng.uniform(-0.02, 0.02, 3) * s).astype(np.float32),
        "frequency": frequency,
        "scale": tuple(float(v) for v in 1 + rng.uniform(-0.05, 0.05, 2) * s),
        "shift": tuple(float(v) for v in rng.uniform(-1, 1, 2) * (0.5 + 2 * s) * size / 256),
        "alpha": float(rng.uniform(0.3 + 0.4 * s, 0.6 + 0.4 * s)),
    }


def _blend_record(edit: SelfBlend | FaceSelfBlend) -> dict:
    return {"hue": edit.hue, "saturation": edit.saturation, "contrast": edit.contrast,
            "frequency": edit.frequency, "scale": edit.scale, "shift": edit.shift,
            "alpha": edit.alpha}
