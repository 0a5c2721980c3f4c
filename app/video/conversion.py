"""How a decoded frame becomes what a judge takes, and how that crosses processes.

A `Conversion` runs where the frame is decoded (a decoder worker, or the decoding thread)
and turns a frame into a value made of uint8 arrays of fixed `shapes`; those arrays travel
from a worker to the service through shared memory and are put back together there. A
`Conversions` is picklable and makes the conversion for frames of one size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeVar

import av
import numpy as np

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

Shape = tuple[int, ...]


class Conversion(Protocol[T]):
    """Frames of one size -> values of `shapes`-shaped uint8 arrays."""

    @property
    def shapes(self) -> tuple[Shape, ...]: ...

    def convert(self, frame: av.VideoFrame) -> T: ...

    def to_arrays(self, value: T) -> tuple[np.ndarray, ...]: ...

    def from_arrays(self, arrays: tuple[np.ndarray, ...]) -> T: ...


class Conversions(Protocol[T_co]):
    """Picklable: the conversion of frames `width` x `height` (sent to decoder workers)."""

    def for_size(self, width: int, height: int) -> Conversion: ...


@dataclass(frozen=True)
class PixelsAt:
    """Frames of any size at `size` (width, height) in `pixel_format` (rgb24 or bgr24):
    swscale scales straight from the decoded picture. Its own `Conversions`."""

    size: tuple[int, int]
    pixel_format: str = "rgb24"

    def __post_init__(self) -> None:
        if self.pixel_format not in ("rgb24", "bgr24"):
            raise ValueError(f"pixel_format must be rgb24 or bgr24, got {self.pixel_format!r}")

    @property
    def shapes(self) -> tuple[Shape, ...]:
        return ((self.size[1], self.size[0], 3),)

    def convert(self, frame: av.VideoFrame) -> np.ndarray:
        return frame.to_ndarray(width=self.size[0], height=self.size[1], format=self.pixel_format)

    def to_arrays(self, value: np.ndarray) -> tuple[np.ndarray, ...]:
        return (value,)

    def from_arrays(self, arrays: tuple[np.ndarray, ...]) -> np.ndarray:
        [pixels] = arrays
        return pixels

    def for_size(self, width: int, height: int) -> PixelsAt:
        return self
