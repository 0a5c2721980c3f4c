"""Where videos are decoded: in worker processes (`DecoderPool`, the default), or in the
calling thread (`LocalDecoder`: no isolation, for trusted files and side-by-side
benchmarks). Both open readers with `VideoReader`'s API and decode single images."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import BinaryIO, Protocol, TypeVar

from app.config import Settings
from app.metrics import Metrics
from app.video.conversion import Conversions
from app.video.decode import Limits, SampledFrame, Sampling, VideoInfo, VideoReader
from app.video.pool import DecoderPool
from app.video.sources import decode_image

T = TypeVar("T")


class Reader(Protocol):
    """An opened, vetted video (`VideoReader`, `WorkerReader`)."""

    info: VideoInfo
    frames_decoded: int
    frames_skipped: int
    busy_s: float

    def converted(
        self,
        sampling: Sampling,
        conversions: Conversions[T],
        should_stop: Callable[[], bool] = ...,
        check_complete: bool = ...,
    ) -> Iterator[SampledFrame[T]]: ...

    def __enter__(self) -> Reader: ...

    def __exit__(self, *exc: object) -> None: ...


class Decoder(Protocol):
    def open(
        self, source: BinaryIO, limits: Limits, threads: int = 0, format: str | None = None
    ) -> Reader: ...

    def image(self, data: bytes, conversions: Conversions[T], max_pixels: int) -> T: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


class LocalDecoder:
    """Decoding in the calling thread: a decoder crash is the service's crash."""

    def open(
        self, source: BinaryIO, limits: Limits, threads: int = 0, format: str | None = None
    ) -> VideoReader:
        return VideoReader(source, limits, threads, format)

    def image(self, data: bytes, conversions: Conversions[T], max_pixels: int) -> T:
        return decode_image(data, conversions, max_pixels)

    def start(self) -> None:
        """Nothing to start."""

    def stop(self) -> None:
        """Nothing to stop."""


def decoder_from_settings(settings: Settings, metrics: Metrics) -> Decoder:
    """The pool of `decode_workers` processes, or the local decoder when that is 0."""
    if settings.decode_workers == 0:
        return LocalDecoder()
    return DecoderPool(settings.decode_workers, settings.decoder_memory_limit_bytes,
                       settings.decoder_cpu_limit_s, metrics)
