"""Screen one video: decode sampled frames (in a decoder worker process, read by a thread),
submit each to the judge (the shared batchers), gather per-frame answers, summarise. Used
by the REST route and `distilscreen screen`."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import BinaryIO, Literal

import numpy as np

from app.config import Settings
from app.contract.card import FaceCrop, ModelCard
from app.errors import HeatmapUnavailable, InvalidOptions
from app.inference.engine import Engine
from app.judges import make_judge
from app.judging import Judge, Judgement
from app.metrics import Metrics
from app.provenance.assessment import assess
from app.provenance.models import Provenance
from app.provenance.reader import CredentialReader
from app.schemas import (
    FaceScore,
    FrameScore,
    Heatmap,
    ModelRef,
    ScreenOptions,
    ScreenResponse,
    Summary,
    Timings,
    VideoFacts,
)
from app.video.decode import Limits, Sampling, VideoInfo
from app.video.decoders import Decoder, decoder_from_settings

Verdict = Literal["authentic", "synthetic", "not_applicable"]
HEATMAP_DECIMALS = 3


def verdict(mean_p_synthetic: float | None, threshold: float) -> Verdict:
    """The video-level rule: synthetic when the mean frame probability reaches the threshold;
    not applicable when no frame has a probability (a face model found no face)."""
    if mean_p_synthetic is None:
        return "not_applicable"
    return "synthetic" if mean_p_synthetic >= threshold else "authentic"


def summarise(probabilities: list[float], face_model: bool, threshold: float) -> Summary:
    """A video's summary from the probabilities of its frames that have one (a face
    model's frames without a face have none), for uploads and streams alike."""
    probs = np.asarray(probabilities, np.float64)
    mean = float(probs.mean()) if len(probs) else None
    return Summary(
        mean_p_synthetic=mean,
        max_p_synthetic=float(probs.max()) if len(probs) else None,
        fraction_above_threshold=float((probs >= threshold).mean()) if len(probs) else None,
        threshold=threshold,
        verdict=verdict(mean, threshold),
        reason="no_faces" if face_model and mean is None else None,
        frames_with_faces=len(probs) if face_model else None,
    )


def heatmap_grid(heatmap: np.ndarray | None) -> Heatmap | None:
    """A model's attention map (h, w) as the API shows it: rows of values in [0, 1], rounded
    (an INT8 model's may pass 1 by a rounding step)."""
    if heatmap is None:
        return None
    return np.round(np.clip(heatmap.astype(np.float64), 0, 1), HEATMAP_DECIMALS).tolist()


def face_scores(judgement: Judgement) -> list[FaceScore] | None:
    """The faces of a frame as the API shows them (None for frame models)."""
    if judgement.faces is None:
        return None
    return [FaceScore(box=f.box, score=f.score, p_synthetic=f.p_synthetic, heatmap=heatmap_grid(f.heatmap),
                      heatmap_box=f.heatmap_box) for f in judgement.faces]


def no_face(judgement: Judgement) -> Literal["no_face"] | None:
    """The reason a face model's frame has no probability."""
    return "no_face" if judgement.faces == () else None


def frame_score(index: int, time_s: float, judgement: Judgement) -> FrameScore:
    return FrameScore(index=index, time_s=time_s, p_synthetic=judgement.p_synthetic,
                      faces=face_scores(judgement), reason=no_face(judgement),
                      heatmap=heatmap_grid(judgement.heatmap))


@asynccontextmanager
async def running_screener(settings: Settings, engine: Engine, metrics: Metrics) -> AsyncIterator[Screener]:
    """A screener whose judge and decoder are made and started here, and stopped after: for
    the `screen` command and tests (the service's lifespan makes its own, to inject them)."""
    judge, decoder = make_judge(settings, engine, metrics), decoder_from_settings(settings, metrics)
    await asyncio.to_thread(decoder.start)
    await judge.start()
    try:
        yield Screener.from_settings(settings, engine.card, judge, decoder, metrics)
    finally:
        await judge.stop()
        await asyncio.to_thread(decoder.stop)


@dataclass(frozen=True)
class _Decoded:
    info: VideoInfo
    frames_decoded: int
    decode_s: float


@dataclass(frozen=True)
class Screener:
    """Everything screening needs, made once at start-up."""

    card: ModelCard
    judge: Judge
    decoder: Decoder
    limits: Limits
    max_frames: int
    default_max_frames: int
    decode_threads: int
    metrics: Metrics
    credentials: CredentialReader | None = None  # reads C2PA provenance beside decoding; None: off

    @classmethod
    def from_settings(
        cls, settings: Settings, card: ModelCard, judge: Judge, decoder: Decoder, metrics: Metrics
    ) -> Screener:
        """A screener of `card`'s model through `judge` and `decoder` (both made and started
        by their owner: the lifespan, or the `screen` command), within the settings' limits."""
        limits = Limits(
            max_pixels=settings.max_pixels,
            max_duration_s=settings.max_duration_s,
            timeout_s=settings.decode_timeout_s,
            allowed_codecs=frozenset(settings.allowed_codecs),
        )
        return cls(
            card=card,
            judge=judge,
            decoder=decoder,
            limits=limits,
            max_frames=settings.max_frames,
            default_max_frames=settings.default_max_frames,
            decode_threads=settings.decode_threads,
            metrics=metrics,
            credentials=CredentialReader.from_settings(settings.c2pa, settings.c2pa_trust_anchors),
        )

    def check_heatmap(self, wanted: bool) -> None:
        """Refuse a heatmap from a model without an attention output."""
        if wanted and not self.judge.has_heatmap:
            raise HeatmapUnavailable(
                f"the model {self.card.name} {self.card.version} has no attention output (its card's "
                "output.extra names none), so it cannot answer heatmaps"
            )

    def sampling(self, options: ScreenOptions) -> Sampling:
        """Turn request options into decoder sampling, within the service's frame limit (and
        refuse a heatmap the model cannot answer: every caller vets options through here)."""
        self.check_heatmap(options.heatmap)
        wanted = options.max_frames or options.frames or min(self.default_max_frames, self.max_frames)
        if wanted > self.max_frames:
            raise InvalidOptions(f"max_frames {wanted} exceeds the limit of {self.max_frames}")
        if options.frames is not None and options.frames > self.max_frames:
            raise InvalidOptions(f"frames {options.frames} exceeds the limit of {self.max_frames}")
        return Sampling(
            max_frames=wanted,
            every_n=options.every_n,
            fps=options.fps,
            keyframes=options.keyframes,
            frames=options.frames,
            start_s=options.start_s,
            end_s=options.end_s,
        )

    async def screen(
        self, source: BinaryIO, options: ScreenOptions, started: float, upload_s: float = 0.0
    ) -> ScreenResponse:
        """Screen the video in `source`; `started` is the perf_counter() when the request began."""
        sampling = self.sampling(options)
        pending: list[tuple[int, float, Awaitable[Judgement]]] = []
        stop = threading.Event()
        # provenance is read beside screening, which never waits on it or fails because of it
        provenance = self.credentials.reading(source) if self.credentials else None
        try:
            decoded = await asyncio.to_thread(
                self._decode, source, sampling, options.heatmap, pending, stop, asyncio.get_running_loop()
            )
            judgements = await asyncio.gather(*(judged for _, _, judged in pending))
        except BaseException:
            stop.set()
            for _, _, judged in pending:
                asyncio.ensure_future(judged).cancel()
            if provenance:
                provenance.cancel()
            raise
        self.metrics.decode_duration.observe(decoded.decode_s)
        frames = [frame_score(i, t, j) for (i, t, _), j in zip(pending, judgements, strict=True)]
        credentials = await provenance if provenance else None
        self.metrics.provenance.labels(credentials.status if credentials else "off").inc()
        return self._response(decoded, frames, judgements, started, upload_s, credentials)

    def _decode(
        self,
        source: BinaryIO,
        sampling: Sampling,
        heatmap: bool,
        pending: list[tuple[int, float, Awaitable[Judgement]]],
        stop: threading.Event,
        loop: asyncio.AbstractEventLoop,
    ) -> _Decoded:
        """A thread: take the decoded, converted sampled frames and submit each (waiting when
        the batchers are full); only the frame's number and time stay here."""
        with self.decoder.open(source, self.limits, self.decode_threads) as reader:
            for frame in reader.converted(sampling, self.judge.conversions, stop.is_set):
                submitted = asyncio.run_coroutine_threadsafe(self.judge.submit(frame.pixels, heatmap), loop)
                pending.append((frame.index, frame.time_s, submitted.result(timeout=self.limits.timeout_s)))
            if not pending and not stop.is_set():
                raise InvalidOptions("no frame of the video falls within the requested range")
            return _Decoded(reader.info, reader.frames_decoded, reader.busy_s)

    def _response(
        self,
        decoded: _Decoded,
        frames: list[FrameScore],
        judgements: list[Judgement],
        started: float,
        upload_s: float,
        provenance: Provenance | None,
    ) -> ScreenResponse:
        batches: dict[tuple[str, int], float] = {}
        for j in judgements:
            batches |= j.batches
        total = time.perf_counter() - started
        face_model = isinstance(self.card.crop, FaceCrop)
        summary = summarise(
            [j.p_synthetic for j in judgements if j.p_synthetic is not None],
            face_model,
            self.card.calibration.threshold,
        )
        return ScreenResponse(
            model=ModelRef(name=self.card.name, version=self.card.version),
            video=VideoFacts(
                **asdict(decoded.info), frames_decoded=decoded.frames_decoded, frames_screened=len(frames)
            ),
            frames=frames,
            summary=summary,
            timings=Timings(
                upload_s=upload_s,
                decode_s=decoded.decode_s,
                queue_s=float(np.mean([j.queue_wait_s for j in judgements])),
                inference_s=sum(s for (stage, _), s in batches.items() if stage == "classifier"),
                detect_s=sum(s for (stage, _), s in batches.items() if stage == "detector")
                if face_model else None,
                total_s=total,
                frames_per_s=len(frames) / total if total > 0 else 0.0,
            ),
            provenance=provenance,
            assessment=assess(provenance, summary.verdict),
        )
