"""How a sampled frame becomes its answer: a `Judge`'s conversions turn each decoded frame
into its inputs (where it is decoded), and the judge submits them to the shared batchers
(on the event loop).

`FrameJudge` serves `crop: frame` models: the frame at the input size, one classifier run.
`app.faces.stage.FaceJudge` serves `crop: face` models: detector, crops, classifier.
Both answer a `Judgement` per frame, so screening, streams and the CLI do not care which.
A frame submitted with `heatmap` is answered with the model's attention map too (of the
frame, or of each face's crop), for a model whose classifier batcher has it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from app.inference.batcher import Batcher, FrameResult
from app.video.conversion import Conversions, PixelsAt

PIXEL_FORMATS = {"RGB": "rgb24", "BGR": "bgr24"}


Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class ScoredFace:
    """One face of a frame: box (x1, y1, x2, y2) in source pixels, detector score, p; when
    asked, the heatmap of its crop and the crop's region (source pixels, may pass the frame)."""

    box: Box
    score: float
    p_synthetic: float
    heatmap: np.ndarray | None = None
    heatmap_box: Box | None = None


@dataclass(frozen=True)
class Judgement:
    """One frame's answer. `faces` is None for frame models; for face models a frame with
    no face has `faces == ()` and `p_synthetic` None. `batches` maps each batch that held
    this frame (or its faces) to that batch's model time, so shared batches count once.
    `heatmap`: a frame model's attention map of the frame, when asked (a face model's are
    its faces')."""

    p_synthetic: float | None
    faces: tuple[ScoredFace, ...] | None
    queue_wait_s: float
    batches: dict[tuple[str, int], float]
    heatmap: np.ndarray | None = None


class Judge(Protocol):
    """What screening needs of a judge."""

    @property
    def conversions(self) -> Conversions:
        """What decoded frames are turned into (picklable: it runs in decoder workers)."""

    @property
    def has_heatmap(self) -> bool:
        """Whether the model answers heatmaps (its card names an attention output)."""

    async def submit(self, converted: Any, heatmap: bool = False) -> Awaitable[Judgement]:
        """Queue one converted frame (waiting for room); returns its judgement to await,
        with the model's heatmap when `heatmap` (only if `has_heatmap`)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def warm_up(self, batches: int) -> None: ...


class FrameJudge:
    """The whole frame at the model's input size, through the classifier's batcher."""

    def __init__(self, classifier: Batcher[float], size: tuple[int, int], color: str) -> None:
        self.classifier = classifier
        self.conversions = PixelsAt(size, PIXEL_FORMATS[color])

    @property
    def has_heatmap(self) -> bool:
        return self.classifier.has_extra

    async def submit(self, converted: np.ndarray, heatmap: bool = False) -> Awaitable[Judgement]:
        return asyncio.ensure_future(_judged(await self.classifier.enqueue(converted, extra=heatmap)))

    async def start(self) -> None:
        await self.classifier.start()

    async def stop(self) -> None:
        await self.classifier.stop()

    def warm_up(self, batches: int) -> None:
        """Nothing beyond the engine's own warm-up."""


async def _judged(future: asyncio.Future[FrameResult[float]]) -> Judgement:
    result = await future
    batches = {("classifier", result.batch_id): result.inference_s}
    return Judgement(result.value, None, result.queue_wait_s, batches, result.extra)
