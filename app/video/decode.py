"""Decode a video with PyAV into sampled frames at the model's input size.

Only sampled frames are converted, and swscale scales them straight to the model size
(`to_ndarray(width=, height=, format=)`), which costs as much as decoding itself would.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO, Generic, TypeVar

import av
import av.error
import numpy as np

from app.errors import (
    CorruptVideo,
    DecodeTimeout,
    InvalidOptions,
    NotAVideo,
    NoVideoStream,
    TooManyPixels,
    UnsupportedCodec,
    VideoTooLong,
)
from app.video.conversion import Conversions, PixelsAt
from app.video.packets import PacketFeed
from app.video.sources import ChunkedSource

T = TypeVar("T")

# Container signatures, to tell a damaged video from something that never was one.
_SIGNATURES: tuple[tuple[int, bytes], ...] = (
    (4, b"ftyp"),
    (4, b"moov"),
    (4, b"mdat"),
    (4, b"free"),
    (4, b"wide"),  # ISO BMFF / QuickTime
    (0, b"\x1a\x45\xdf\xa3"),  # Matroska / WebM (EBML)
    (0, b"RIFF"),  # AVI
    (0, b"FLV"),
    (0, b"GIF8"),  # GIF87a / GIF89a
    (0, b"OggS"),
    (0, b"\x00\x00\x01\xba"),  # FLV, Ogg, MPEG-PS
)


# Demuxers of bare codec streams, which carry no timestamps.
_RAW_STREAMS = frozenset({"h264", "hevc"})

# Probe little before the first frame: a live stream must not wait for megabytes to arrive.
_LIVE_OPTIONS = {"probesize": "65536"}


@dataclass(frozen=True)
class Limits:
    """What one video may cost."""

    max_pixels: int
    max_duration_s: float
    timeout_s: float
    allowed_codecs: frozenset[str]


@dataclass(frozen=True)
class Sampling:
    """Which frames to screen: every n-th, `fps` per second, or the keyframes only (the
    others are not even decoded), within [start_s, end_s). A live stream with `max_lag_s`
    skips to its next keyframe whenever the bytes being decoded have waited that long
    since they arrived (`PacketFeed`; a `ChunkedSource` knows)."""

    max_frames: int
    every_n: int | None = None
    fps: float | None = None
    keyframes: bool = False
    frames: int | None = None  # that many, spread evenly over the range (`VideoReader.spread`)
    start_s: float = 0.0
    end_s: float | None = None
    max_lag_s: float | None = None


@dataclass(frozen=True)
class VideoInfo:
    """Facts about the video, read from the container before decoding."""

    container: str
    codec: str
    width: int
    height: int
    fps: float | None
    duration_s: float | None
    declared_frames: int | None


@dataclass(frozen=True)
class SampledFrame(Generic[T]):
    """One frame chosen for screening, converted for the model (`pixels`: usually an array
    at the model's input size; for a face model, the face stage's views of the frame)."""

    index: int
    time_s: float
    pixels: T
    arrived: float | None = None  # when a live stream's bytes of it arrived (time.monotonic())


def looks_like_container(head: bytes) -> bool:
    """True when `head` starts like a known video container."""
    return any(head[offset : offset + len(magic)] == magic for offset, magic in _SIGNATURES)


class VideoReader:
    """An opened, vetted video; iterate `frames(...)` once, then close (or use `with`)."""

    def __init__(self, source: BinaryIO, limits: Limits, threads: int = 0, format: str | None = None) -> None:
        self.live = not source.seekable()
        self._source = source
        head, options = b"", _LIVE_OPTIONS
        if not self.live:  # a file can be sniffed and rewound; a live stream cannot
            head, options = source.read(16), {}
            source.seek(0)
        try:
            # metadata is free text: bytes that are not UTF-8 must not fail the video
            self._container = av.open(
                source, mode="r", format=format, options=options, metadata_errors="replace"
            )
        except (av.error.FFmpegError, OSError) as exc:  # OSError: FFmpeg seeking before the start
            if looks_like_container(head):
                raise CorruptVideo(
                    "the file looks like a video container but is truncated or corrupt"
                ) from exc
            raise NotAVideo("the upload is not a video container FFmpeg can read") from exc
        self.limits = limits
        self.threads = threads
        self.frames_decoded = 0
        self._feed: PacketFeed | None = None
        self._busy = _Stopwatch()  # decoding and converting, not waiting for the consumer
        try:
            self.info = _vet(self._container, limits)
        except Exception:
            self._container.close()
            raise

    @property
    def frames_skipped(self) -> int:
        """Frames not decoded at all (keyframes mode, a live stream skipping on overload)."""
        return self._feed.skipped if self._feed is not None else 0

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    def frames(
        self,
        sampling: Sampling,
        size: tuple[int, int],
        pixel_format: str,
        should_stop: Callable[[], bool] = lambda: False,
        check_complete: bool = True,
    ) -> Iterator[SampledFrame[np.ndarray]]:
        """Yield the sampled frames, converted to `pixel_format` at `size` (width, height)."""
        return self.converted(sampling, PixelsAt(size, pixel_format), should_stop, check_complete)

    def converted(
        self,
        sampling: Sampling,
        conversions: Conversions[T],
        should_stop: Callable[[], bool] = lambda: False,
        check_complete: bool = True,
    ) -> Iterator[SampledFrame[T]]:
        """Yield the sampled frames, each converted by `conversions` for the video's size
        (timed as decoding).

        At the end of a file, `check_complete` refuses one that ends well short of what it
        declares (truncated); a live stream declares nothing and is not checked.
        """
        duration = self.info.duration_s
        if duration is not None and sampling.start_s >= duration:
            raise InvalidOptions(f"start_s {sampling.start_s} is past the video's end ({duration:.2f} s)")
        convert = conversions.for_size(self.info.width, self.info.height).convert
        stream = self._container.streams.video[0]
        # frame threading holds back one frame per thread: fine for files, too slow for live
        stream.thread_type = "SLICE" if self.live else "AUTO"
        stream.codec_context.thread_count = self.threads  # 0: FFmpeg picks
        if sampling.frames is not None or (sampling.fps is not None and not self.live):
            yield from self._seeking(sampling, convert, stream, should_stop, check_complete)
            return
        seeked = sampling.start_s > 0
        slots = _Slots(sampling.fps, sampling.start_s) if sampling.fps is not None else None
        taken = 0
        t = -math.inf
        with self._decoding():
            if seeked:
                self._container.seek(int(sampling.start_s / stream.time_base), stream=stream, backward=True)
            wanted = slots.wants if slots is not None else None
            for frame, t, index, arrived in self._timed(stream, sampling, wanted, seeked):
                self._count()
                if should_stop() or (sampling.end_s is not None and t >= sampling.end_s):
                    return
                if t < sampling.start_s - 1e-6:
                    continue
                if slots is not None:  # the first frame of each 1/fps slot
                    if not slots.wants(t):
                        continue
                    slots.take(t)
                elif sampling.every_n is not None and index % sampling.every_n:
                    continue
                pixels = convert(frame)
                with self._busy.paused():
                    yield SampledFrame(index=index, time_s=t, pixels=pixels, arrived=arrived)
                taken += 1
                if taken >= sampling.max_frames:
                    return
        if check_complete and not sampling.keyframes:  # keyframes say nothing of where a file ends
            self._check_complete(t, seeked)

    def _timed(
        self,
        stream: av.VideoStream,
        sampling: Sampling,
        wanted: Callable[[float], bool] | None,
        seeked: bool,
    ) -> Iterator[tuple[av.VideoFrame, float, int, float | None]]:
        """Each frame decoded, with its time, index and (a live stream's) arrival. Where only
        some packets need decoding (keyframes; a live stream's fps or lag bound) through a
        `PacketFeed`, frames numbered by time; otherwise every frame in order, numbered by
        count (from the first frame's time after a seek). A frame without a time is timed by
        its number."""
        fps, start = self.info.fps or 1.0, _start_time(stream)
        arrivals = self._source if isinstance(self._source, ChunkedSource) else None
        bounded = arrivals is not None and sampling.max_lag_s is not None
        if sampling.keyframes or (self.live and (sampling.fps is not None or bounded)):
            self._feed = PacketFeed(self._container, stream, fps, wanted, sampling.keyframes, arrivals,
                                    sampling.max_lag_s)
            for frame, t, arrived in self._feed.frames():
                yield frame, t, round((t - start) * fps), arrived
            return
        base: int | None = None if seeked else 0
        for n, frame in enumerate(self._container.decode(stream)):
            t = float(frame.time) if frame.time is not None else n / fps
            base = round((t - start) * fps) if base is None else base
            yield frame, t, base + n, None

    def _seeking(
        self,
        sampling: Sampling,
        convert: Callable[[av.VideoFrame], T],
        stream: av.VideoStream,
        should_stop: Callable[[], bool],
        check_complete: bool,
    ) -> Iterator[SampledFrame[T]]:
        """For each target time (`_target`), the first frame at or after it, numbered by its
        time: for `fps`, the same frames as decoding everything. A target further ahead than
        the keyframes seem apart is reached by seeking to the keyframe before it; seeks that
        land no further than the decoder already was make that distance larger, and a file
        whose seek lands past the time asked (no index to trust) is decoded through."""
        duration = self.info.duration_s
        fps, start = self.info.fps or 1.0, _start_time(stream)
        end = min(sampling.end_s or math.inf, start + duration if duration is not None else math.inf)
        eps = 0.5 / fps  # a frame's time may be rounded (WebM keeps milliseconds)
        # fps: a frame belongs to the slot its time is in (as `converted` counts slots)
        slack = 1e-6 / sampling.fps if sampling.fps is not None else eps
        gap, position, seekable, k, taken, origin = 1.0, start, True, 0, 0, start
        first = max(sampling.start_s, start)
        target = _target(sampling, first, end, 0, origin)
        frames = self._container.decode(stream)
        with self._decoding():
            while target is not None:
                sought = None
                if seekable and target - position >= gap - eps:
                    sought = target
                    self._container.seek(int(sought / stream.time_base), stream=stream, backward=True)
                    frames = self._container.decode(stream)
                for frame in frames:
                    self._count()
                    t = float(frame.time) if frame.time is not None else math.inf
                    if sought is not None:
                        if t > sought + eps:  # the seek overshot: decode this file through
                            seekable, position = False, start
                            self._container.seek(0, stream=stream, backward=True)
                            frames = self._container.decode(stream)
                            break
                        if t <= position + eps:  # back where the decoder was: keyframes are further apart
                            gap = max(2 * gap, sought - t + 1 / fps)
                        sought = None
                    position = t
                    if should_stop() or t >= end:
                        return
                    if t < target - slack:
                        continue
                    origin = t if k == 0 else origin
                    # targets with no frame of their own are served by this one
                    while (following := _target(sampling, first, end, k + 1, origin)) is not None and (
                        t >= following - slack
                    ):
                        k, target = k + 1, following
                    pixels = convert(frame)
                    with self._busy.paused():
                        yield SampledFrame(index=round((t - start) * fps), time_s=t, pixels=pixels)
                    k, taken = k + 1, taken + 1
                    target = _target(sampling, first, end, k, origin) if taken < sampling.max_frames else None
                    break
                else:  # the end of the file, with targets left
                    if check_complete:
                        self._check_complete(position, seeked=True)
                    return

    @property
    def busy_s(self) -> float:
        """Seconds spent decoding and converting so far (not waiting for the consumer)."""
        return self._busy.seconds()

    @contextmanager
    def _decoding(self) -> Iterator[None]:
        """Decoding runs on the stopwatch; FFmpeg's errors are the video's corruption."""
        try:
            with self._busy.running():
                yield
        except (av.error.FFmpegError, OSError) as exc:
            raise CorruptVideo(f"decoding failed after {self.frames_decoded} frames: {exc}") from exc

    def _count(self) -> None:
        """One more frame decoded, within the decode time limit."""
        self.frames_decoded += 1
        if self.busy_s > self.limits.timeout_s:
            raise DecodeTimeout(f"decoding took longer than {self.limits.timeout_s:.0f} s")

    def _check_complete(self, last_time: float, seeked: bool) -> None:
        """At the end of the stream, a file that ends well short of what it declares is truncated."""
        info = self.info
        if self.frames_decoded == 0:
            raise CorruptVideo("the video stream has no decodable frame")
        if not seeked and info.declared_frames and self.frames_decoded < 0.95 * info.declared_frames:
            raise CorruptVideo(
                f"truncated: {self.frames_decoded} of {info.declared_frames} declared frames decoded"
            )
        frame_s = 1 / info.fps if info.fps else 0.0
        if info.duration_s and last_time + frame_s < 0.9 * info.duration_s:
            raise CorruptVideo(
                f"truncated: frames end at {last_time:.2f} s of {info.duration_s:.2f} s declared"
            )


class _Slots:
    """The fps rule: the first frame of each 1/fps slot, slots counted from the first frame
    in range (a stream starts anywhere)."""

    def __init__(self, fps: float, start_s: float) -> None:
        self.fps, self.start_s = fps, start_s
        self._origin: float | None = None
        self._last: int | None = None

    def wants(self, t: float) -> bool:
        """Whether a frame at `t` is in range and would open a slot not yet taken."""
        return t >= self.start_s - 1e-6 and self._slot(t) != self._last

    def take(self, t: float) -> None:
        self._origin = t if self._origin is None else self._origin
        self._last = self._slot(t)

    def _slot(self, t: float) -> int:
        origin = t if self._origin is None else self._origin
        return math.floor((t - origin) * self.fps + 1e-6)


class _Stopwatch:
    """Seconds accumulated while running; `paused` stops it for a while (a frame handed out)."""

    def __init__(self) -> None:
        self._total = 0.0
        self._since: float | None = None

    def seconds(self) -> float:
        running = time.perf_counter() - self._since if self._since is not None else 0.0
        return self._total + running

    @contextmanager
    def running(self) -> Iterator[None]:
        self._since = time.perf_counter()
        try:
            yield
        finally:
            self._stop()

    @contextmanager
    def paused(self) -> Iterator[None]:
        self._stop()
        try:
            yield
        finally:
            self._since = time.perf_counter()

    def _stop(self) -> None:
        if self._since is not None:
            self._total += time.perf_counter() - self._since
            self._since = None


def _target(sampling: Sampling, first: float, end: float, k: int, origin: float) -> float | None:
    """The k-th target time of a seeking sampling, None past the last: `frames` evenly spaced
    over [first, end); `fps` from the first frame taken (`origin`), every 1/fps."""
    if sampling.frames is not None:
        if math.isinf(end):
            raise InvalidOptions("frames=N needs a file that declares its duration")
        return first + (end - first) * k / sampling.frames if k < sampling.frames else None
    assert sampling.fps is not None
    at = first if k == 0 else origin + k / sampling.fps
    return at if at < end else None


def _start_time(stream: av.VideoStream) -> float:
    """When the stream's first frame is shown (frames are numbered from it)."""
    return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0


def _vet(container: av.container.InputContainer, limits: Limits) -> VideoInfo:
    fmt = container.format.name
    if fmt.endswith("_pipe") or fmt in {"image2", "tty"}:
        raise NotAVideo(f"the upload is a still image or text ({fmt}), not a video")
    if not container.streams.video:
        raise NoVideoStream(f"the {fmt} container has no video stream")
    stream = container.streams.video[0]
    if stream.codec_context is None:  # FFmpeg has no decoder for what the header declares
        raise UnsupportedCodec("the video stream's codec is unknown to FFmpeg (or its header is damaged)")
    # the codec, not the decoder that FFmpeg picked for it (AV1 is decoded by libdav1d)
    codec = stream.codec_context.codec.canonical_name
    if codec not in limits.allowed_codecs:
        raise UnsupportedCodec(f"codec {codec!r} is not accepted; accepted: {sorted(limits.allowed_codecs)}")
    width, height = stream.codec_context.width, stream.codec_context.height
    if width * height > limits.max_pixels:
        raise TooManyPixels(f"{width}x{height} = {width * height} pixels > limit {limits.max_pixels}")
    if width <= 0 or height <= 0:
        raise CorruptVideo(f"the video stream declares no frame size ({width}x{height})")
    duration = _stream_duration(container, stream)
    if duration is not None and duration > limits.max_duration_s:
        raise VideoTooLong(f"duration {duration:.1f} s exceeds the limit of {limits.max_duration_s:.1f} s")
    # a raw elementary stream's average rate is the demuxer's default (25); its codec knows
    rate = stream.guessed_rate if fmt in _RAW_STREAMS else stream.average_rate or stream.guessed_rate
    return VideoInfo(
        container=fmt,
        codec=codec,
        width=width,
        height=height,
        fps=float(rate) if rate else None,
        duration_s=duration,
        declared_frames=stream.frames or None,
    )


def _stream_duration(container: av.container.InputContainer, stream: av.VideoStream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None
