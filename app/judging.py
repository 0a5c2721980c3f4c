"""How a sampled frame becomes its answer: a `Judge` converts each decoded frame (in the
decoding thread) and submits it to the shared batchers (on the event loop).

`FrameJudge` serves `crop: frame` models: the frame at the input size, one classifier run.
`app.faces.stage.FaceJudge` serves `crop: face` models: detector, crops, classifier.
Both answer a `Judgement` per frame, so screening, streams and the CLI do not care which.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import av
import numpy as np

from app.inference.batcher import Batcher, FrameResult
from app.video.decode import pixels_at

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

    def converter(self, width: int, height: int) -> Callable[[av.VideoFrame], Any]:
        """The conversion of decoded frames of this size (run in the decoding thread)."""

    def convert_any(self, frame: av.VideoFrame) -> Any:
        """The conversion of one frame of any size (a stream of images)."""

    async def submit(self, converted: Any) -> Awaitable[Judgement]:
        """Queue one converted frame (waiting for room); returns its judgement to await."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def warm_up(self, batches: int) -> None: ...


class FrameJudge:
    """The whole frame at the model's input size, through the classifier's batcher."""

    def __init__(self, classifier: Batcher[float], size: tuple[int, int], color: str) -> None:
        self.classifier = classifier
        self._convert = pixels_at(size, PIXEL_FORMATS[color])

    def converter(self, width: int, height: int) -> Callable[[av.VideoFrame], np.ndarray]:
        return self._convert

    def convert_any(self, frame: av.VideoFrame) -> np.ndarray:
        return self._convert(frame)

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
