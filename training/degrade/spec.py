"""The `degrade` section of a config, and the degradations it draws.

    degrade:
      encode:  {p: 0.8, crf: [24, 45], codecs: [h264]}   # re-encode at a CRF in the range
      rescale: {p: 0.5, factor: [0.35, 1.0]}             # down by the factor and back up
      jpeg:    {p: 0.2, quality: [30, 90]}               # JPEG blocking at that quality
      noise:   {p: 0.2, sigma: [0.0, 0.03]}              # Gaussian noise, of full scale

Each step is applied with its probability `p`, its parameter drawn uniformly from its
range, the steps in a random order; the draw for a clip and a view is seeded by (run seed,
view, the clip's identity), so the same clip's view is the same picture in every run and
at every input size. Every `p` is 0 by default: no degradation.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict, dataclass
from typing import Annotated, Literal

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from training.degrade.encode import CODECS

Probability = Annotated[float, Field(ge=0.0, le=1.0)]


def _range(low: float, high: float) -> AfterValidator:
    """A [lo, hi] pair with low <= lo <= hi <= high."""
    def check(pair: tuple[float, float]) -> tuple[float, float]:
        lo, hi = pair
        if not low <= lo <= hi <= high:
            raise ValueError(f"a range [lo, hi] with {low:g} <= lo <= hi <= {high:g}, got [{lo:g}, {hi:g}]")
        return pair
    return AfterValidator(check)


@dataclass(frozen=True)
class Encode:
    """Re-encode with `codec` at constant quality `crf` (one pass, the clip's frame rate)."""

    codec: str
    crf: int


@dataclass(frozen=True)
class Rescale:
    """Scale down by `factor` and back up to the clip's size (bilinear both ways)."""

    factor: float


@dataclass(frozen=True)
class Jpeg:
    """Each frame through JPEG at `quality` (4:2:0, as cameras and screenshots save them)."""

    quality: int


@dataclass(frozen=True)
class Noise:
    """Gaussian noise of standard deviation `sigma` (of full scale), drawn from `seed`."""

    sigma: float
    seed: int


Step = Encode | Rescale | Jpeg | Noise
Degradation = tuple[Step, ...]  # in the order applied; () is the clip as it is


def describe(degradation: Degradation) -> str:
    """A canonical text of the steps (what cache keys hold)."""
    return json.dumps([[type(s).__name__.lower(), asdict(s)] for s in degradation], sort_keys=True)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    p: Probability = 0.0


class EncodeSpec(_Spec):
    crf: Annotated[tuple[int, int], _range(0, 51)] = (24, 45)
    codecs: tuple[Literal[CODECS], ...] = Field(("h264",), min_length=1)

    def draw(self, rng: np.random.Generator) -> Encode:
        return Encode(str(rng.choice(self.codecs)), int(rng.integers(self.crf[0], self.crf[1] + 1)))


class RescaleSpec(_Spec):
    factor: Annotated[tuple[float, float], _range(0.05, 1.0)] = (0.35, 1.0)

    def draw(self, rng: np.random.Generator) -> Rescale:
        return Rescale(round(float(rng.uniform(*self.factor)), 4))


class JpegSpec(_Spec):
    quality: Annotated[tuple[int, int], _range(1, 100)] = (30, 90)

    def draw(self, rng: np.random.Generator) -> Jpeg:
        return Jpeg(int(rng.integers(self.quality[0], self.quality[1] + 1)))


class NoiseSpec(_Spec):
    sigma: Annotated[tuple[float, float], _range(0.0, 1.0)] = (0.0, 0.03)

    def draw(self, rng: np.random.Generator) -> Noise:
        return Noise(round(float(rng.uniform(*self.sigma)), 5), int(rng.integers(2**31)))


class DegradeSpec(BaseModel):
    """The steps a degraded view may take (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    encode: EncodeSpec = EncodeSpec()
    rescale: RescaleSpec = RescaleSpec()
    jpeg: JpegSpec = JpegSpec()
    noise: NoiseSpec = NoiseSpec()

    @property
    def active(self) -> bool:
        """Whether any step may be drawn."""
        return any(getattr(self, name).p > 0 for name in type(self).model_fields)

    def draw(self, seed: int, view: int, key: str) -> Degradation:
        """The degradation of view `view` of the clip whose identity is `key`."""
        rng = np.random.default_rng([seed, view, zlib.crc32(key.encode())])
        steps: list[Step] = []
        for name in rng.permutation(list(type(self).model_fields)):
            spec = getattr(self, name)
            if rng.random() < spec.p:
                steps.append(spec.draw(rng))
        return tuple(steps)
