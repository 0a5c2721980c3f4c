"""How difficulty and strength turn into random parameters for clips and manipulations.

``difficulty`` in [0, 1] moves every range at once: weaker edits, softer masks, more
edits hidden under sensor noise, heavier compression, more in-camera sharpening or
blur on authentic clips (a look-alike of the edits' frequency changes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.data.synth.capture import CameraPath
from training.data.synth.manipulations import (
    Manipulation,
    SelfBlend,
    Upsample,
    random_region,
    upsample_kernel,
)

FAMILIES = ("sbi", "upsample", "flicker")


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
        size = min(camera.out_h, camera.out_w)
        freq = rng.uniform(0.2, 0.2 + s) if rng.random() < 0.5 else -rng.uniform(0.3, 0.3 + s)
        edit = SelfBlend(
            region=random_region(rng, camera, (0.15, 0.32)),
            hue=float(rng.choice([-1, 1]) * rng.uniform(1, 1 + 8 * s)),
            saturation=float(1 + rng.uniform(-0.25, 0.25) * s),
            contrast=float(1 + rng.uniform(-0.2, 0.2) * s),
            offset=(rng.uniform(-0.05, 0.05) * s + rng.uniform(-0.02, 0.02, 3) * s).astype(
                np.float32),
            frequency=float(freq),
            scale=tuple(float(v) for v in 1 + rng.uniform(-0.05, 0.05, 2) * s),
            shift=tuple(float(v) for v in rng.uniform(-1, 1, 2) * (0.5 + 2 * s) * size / 256),
            alpha=float(rng.uniform(0.3 + 0.4 * s, 0.6 + 0.4 * s)),
            flicker=float(flicker),
            seed=seed,
        )
        record = {"hue": edit.hue, "saturation": edit.saturation, "contrast": edit.contrast,
                  "frequency": edit.frequency, "scale": edit.scale, "shift": edit.shift,
                  "alpha": edit.alpha}
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
