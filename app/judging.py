"""How a sampled frame becomes its answer: a `Judge`'s conversions turn each decoded frame
into its inputs (where it is decoded), and the judge submits them to the shared batchers
(on the event loop).

`FrameJudge` serves `crop: frame` models: the frame at the input size, one classifier run.
`app.faces.stage.FaceJudge` serves `crop: face` models: detector, crops, classifier.
Both answer a `Judgement` per frame, so screening, streams and the CLI do not care which.
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


@dataclass(frozen=True)
class ScoredFace:
    """One face of a frame: box (x1, y1, x2, y2) in source pixels, detector score, p."""

    box: tuple[float, float, float, float]
    score: float
    p_synthetic: float


@dataclass(frozen=True)
class Judgement:
    """One frame's answer. `faces` is None for frame models; for face models a frame with
    no face has `faces == ()` and `p_synthetic` None. `batches` maps each batch that held
    this frame (or its faces) to that batch's model time, so shared batches count once."""

    p_synthetic: float | None
    faces: tuple[ScoredFace, ...] | None
    queue_wait_s: float
    batches: dict[tuple[str, int], float]


class Judge(Protocol):
    """What screening needs of a judge."""

    @property
    def conversions(self) -> Conversions:
        """What decoded frames are turned into (picklable: it runs in decoder workers)."""

    async def submit(self, converted: Any) -> Awaitable[Judgement]:
        """Queue one converted frame (waiting for room); returns its judgement to await."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def warm_up(self, batches: int) -> None: ...


class FrameJudge:
    """The whole frame at the model's input size, through the classifier's batcher."""

    def __init__(self, classifier: Batcher[float], size: tuple[int, int], color: str) -> None:
        self.classifier = classifier
        self.conversions = PixelsAt(size, PIXEL_FORMATS[color])

    async def submit(self, converted: np.ndarray) -> Awaitable[Judgement]:
        return asyncio.ensure_future(_judged(await self.classifier.enqueue(converted)))

    async def start(self) -> None:
        await self.classifier.start()

    async def stop(self) -> None:
        await self.classifier.stop()

    def warm_up(self, batches: int) -> None:
        """Nothing beyond the engine's own warm-up."""


async def _judged(future: asyncio.Future[FrameResult[float]]) -> Judgement:
    result = await future
    batches = {("classifier", result.batch_id): result.inference_s}
    return Judgement(result.value, None, result.queue_wait_s, batches)
