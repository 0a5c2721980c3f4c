"""Screen one video: decode sampled frames in a worker thread, feed the shared batcher,
gather per-frame probabilities, summarise. Used by the REST route and `distilscreen screen`."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import asdict, dataclass
from typing import BinaryIO, Literal

import numpy as np

from app.card import ModelCard
from app.config import Settings
from app.errors import InvalidOptions
from app.inference.batcher import Batcher, FrameResult
from app.inference.engine import Engine
from app.metrics import Metrics
from app.schemas import (
    FrameScore,
    ModelRef,
    ScreenOptions,
    ScreenResponse,
    Summary,
    Timings,
    VideoFacts,
)
from app.video.decode import Limits, SampledFrame, Sampling, VideoInfo, VideoReader

PIXEL_FORMATS = {"RGB": "rgb24", "BGR": "bgr24"}


def verdict(mean_p_synthetic: float, threshold: float) -> Literal["authentic", "synthetic"]:
    """The video-level rule: synthetic when the mean frame probability reaches the threshold."""
    return "synthetic" if mean_p_synthetic >= threshold else "authentic"


@dataclass(frozen=True)
class _Decoded:
    info: VideoInfo
    frames_decoded: int
    decode_s: float


@dataclass(frozen=True)
class Screener:
    """Everything screening needs, made once at start-up."""

    card: ModelCard
    batcher: Batcher
    limits: Limits
    max_frames: int
    default_max_frames: int
    decode_threads: int
    metrics: Metrics

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine, metrics: Metrics) -> Screener:
        """A screener in front of `engine`, with its batcher (not yet started) and limits."""
        spec = engine.card.input
        batcher = Batcher(
            engine.predict,
            (spec.height, spec.width, 3),
            max_batch_size=settings.max_batch_size,
            max_wait_s=settings.max_wait_ms / 1000,
            max_queued=settings.max_queued_frames,
            metrics=metrics,
        )
        limits = Limits(
            max_pixels=settings.max_pixels,
            max_duration_s=settings.max_duration_s,
            timeout_s=settings.decode_timeout_s,
            allowed_codecs=frozenset(settings.allowed_codecs),
        )
        return cls(
            card=engine.card,
            batcher=batcher,
            limits=limits,
            max_frames=settings.max_frames,
            default_max_frames=settings.default_max_frames,
            decode_threads=settings.decode_threads,
            metrics=metrics,
        )

    def sampling(self, options: ScreenOptions) -> Sampling:
        """Turn request options into decoder sampling, within the service's frame limit."""
        wanted = options.max_frames or min(self.default_max_frames, self.max_frames)
        if wanted > self.max_frames:
            raise InvalidOptions(f"max_frames {wanted} exceeds the limit of {self.max_frames}")
        return Sampling(
            max_frames=wanted,
            every_n=options.every_n,
            fps=options.fps,
            start_s=options.start_s,
            end_s=options.end_s,
        )

    async def screen(
        self, source: BinaryIO, options: ScreenOptions, started: float, upload_s: float = 0.0
    ) -> ScreenResponse:
        """Screen the video in `source`; `started` is the perf_counter() when the request began."""
        sampling = self.sampling(options)
        pending: list[tuple[SampledFrame, asyncio.Future[FrameResult]]] = []
        stop = threading.Event()
        try:
            decoded = await asyncio.to_thread(
                self._decode, source, sampling, pending, stop, asyncio.get_running_loop()
            )
            results = await asyncio.gather(*(future for _, future in pending))
        except BaseException:
            stop.set()
            for _, future in pending:
                future.cancel()
            raise
        self.metrics.decode_duration.observe(decoded.decode_s)
        return self._response(decoded, [frame for frame, _ in pending], results, started, upload_s)

    def _decode(
        self,
        source: BinaryIO,
        sampling: Sampling,
        pending: list[tuple[SampledFrame, asyncio.Future[FrameResult]]],
        stop: threading.Event,
        loop: asyncio.AbstractEventLoop,
    ) -> _Decoded:
        """Worker thread: decode sampled frames and queue each (waiting when the queue is full)."""
        spec = self.card.input
        size, pixel_format = (spec.width, spec.height), PIXEL_FORMATS[spec.color]
        with VideoReader(source, self.limits, self.decode_threads) as reader:
            duration = reader.info.duration_s
            if duration is not None and sampling.start_s >= duration:
                raise InvalidOptions(f"start_s {sampling.start_s} is past the video's end ({duration:.2f} s)")
            for frame in reader.frames(sampling, size, pixel_format, stop.is_set):
                queued = asyncio.run_coroutine_threadsafe(self.batcher.enqueue(frame.pixels), loop)
                pending.append((frame, queued.result(timeout=self.limits.timeout_s)))
            if not pending and not stop.is_set():
                raise InvalidOptions("no frame of the video falls within the requested range")
            return _Decoded(reader.info, reader.frames_decoded, reader.busy_s)

    def _response(
        self,
        decoded: _Decoded,
        frames: list[SampledFrame],
        results: list[FrameResult],
        started: float,
        upload_s: float,
    ) -> ScreenResponse:
        probs = np.array([r.p_synthetic for r in results])
        threshold = self.card.calibration.threshold
        mean = float(probs.mean())
        batches = {r.batch_id: r.inference_s for r in results}
        total = time.perf_counter() - started
        return ScreenResponse(
            model=ModelRef(name=self.card.name, version=self.card.version),
            video=VideoFacts(
                **asdict(decoded.info), frames_decoded=decoded.frames_decoded, frames_screened=len(frames)
            ),
            frames=[
                FrameScore(index=f.index, time_s=f.time_s, p_synthetic=r.p_synthetic)
                for f, r in zip(frames, results, strict=True)
            ],
            summary=Summary(
                mean_p_synthetic=mean,
                max_p_synthetic=float(probs.max()),
                fraction_above_threshold=float((probs >= threshold).mean()),
                threshold=threshold,
                verdict=verdict(mean, threshold),
            ),
            timings=Timings(
                upload_s=upload_s,
                decode_s=decoded.decode_s,
                queue_s=float(np.mean([r.queue_wait_s for r in results])),
                inference_s=float(sum(batches.values())),
                total_s=total,
                frames_per_s=len(frames) / total if total > 0 else 0.0,
            ),
        )
