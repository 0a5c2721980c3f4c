"""A job's progress while the shared screener runs it: the frames it plans to screen (from
the video's facts, once the decoder has opened it) and the frames judged so far.

`Progress.screener(screener)` is the service's screener with its judge and decoder wrapped
to count, so a job is screened exactly as an upload is."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Awaitable
from dataclasses import replace
from typing import Any, BinaryIO

from app.judging import Judge, Judgement
from app.schemas import ScreenOptions
from app.screening import Screener
from app.video.decode import Limits, Sampling, VideoInfo
from app.video.decoders import Decoder, Reader


def planned_frames(info: VideoInfo, sampling: Sampling) -> int | None:
    """How many frames `sampling` will screen of the video `info` describes, as far as the
    container tells before decoding (None when it cannot: keyframes, or no duration)."""
    if sampling.frames is not None:
        return min(sampling.frames, sampling.max_frames)
    end = min(sampling.end_s or math.inf, info.duration_s or math.inf)
    span = end - sampling.start_s if math.isfinite(end) else None
    if sampling.keyframes or span is None:
        return None
    if sampling.fps is not None:
        count = math.ceil(span * sampling.fps)
    elif info.fps:
        count = math.ceil(span * info.fps / (sampling.every_n or 1))
    else:
        return None
    return max(0, min(count, sampling.max_frames))


class Progress:
    """Frames judged and planned for one job; updated from the event loop and the decoding thread."""

    def __init__(self) -> None:
        self.done = 0
        self.planned: int | None = None
        self._sampling: Sampling | None = None
        self.decoding = threading.Event()  # the decoding thread has begun
        self.decoded = threading.Event()  # ... and let go of the video (and the batchers)

    def screener(self, screener: Screener, options: ScreenOptions) -> Screener:
        """`screener`, counting into this progress as it screens with `options`."""
        self._sampling = screener.sampling(options)
        return replace(screener, judge=_CountingJudge(screener.judge, self),
                       decoder=_WatchedDecoder(screener.decoder, self))

    def opened(self, info: VideoInfo) -> None:
        if self._sampling is not None:
            self.planned = planned_frames(info, self._sampling)

    async def wound_down(self, timeout_s: float) -> None:
        """Wait until a cancelled run's decoding thread has stopped: it may be waiting for
        room in a batcher, which must still be running to give it some."""
        if self.decoding.is_set():
            await asyncio.to_thread(self.decoded.wait, timeout_s)

    def judged(self, _future: asyncio.Future[Judgement]) -> None:
        self.done += 1


class _CountingJudge:
    """A judge that counts each frame into `progress` when its judgement is done; the rest
    is the judge's."""

    def __init__(self, judge: Judge, progress: Progress) -> None:
        self._judge, self._progress = judge, progress

    def __getattr__(self, name: str) -> Any:
        return getattr(self._judge, name)

    async def submit(self, converted: Any, heatmap: bool = False) -> Awaitable[Judgement]:
        judged = asyncio.ensure_future(await self._judge.submit(converted, heatmap))
        judged.add_done_callback(self._progress.judged)
        return judged


class _WatchedDecoder:
    """A decoder that tells `progress` the video's facts as soon as it has opened it, and
    when its reader is closed; the rest is the decoder's."""

    def __init__(self, decoder: Decoder, progress: Progress) -> None:
        self._decoder, self._progress = decoder, progress

    def __getattr__(self, name: str) -> Any:
        return getattr(self._decoder, name)

    def open(self, source: BinaryIO, limits: Limits, threads: int = 0, format: str | None = None) -> Reader:
        self._progress.decoding.set()
        try:
            reader = self._decoder.open(source, limits, threads, format)
        except BaseException:
            self._progress.decoded.set()
            raise
        self._progress.opened(reader.info)
        return _ClosingReader(reader, self._progress.decoded)


class _ClosingReader:
    """A reader that sets `closed` once it is closed; everything else is the reader's."""

    def __init__(self, reader: Reader, closed: threading.Event) -> None:
        self._reader, self._closed = reader, closed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reader, name)

    def __enter__(self) -> _ClosingReader:
        self._reader.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._reader.__exit__(*exc)
        finally:
            self._closed.set()
