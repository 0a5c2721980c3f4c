"""One batch queue per model for every client: frames from all requests share batches.

A private asyncio queue feeds one worker task. The worker takes the first waiting frame,
gathers more until the batch is full or `max_wait_s` has passed, runs the model in a worker
thread (so the event loop never blocks) and resolves each frame's future with the model's
answer for it (a probability for the classifier, the detections for the face detector).
A frame may ask for the model's extra answer too (the classifier's heatmap): a batch holding
one runs `run_extra`, which fetches it for every frame of the batch, and only the frames
that asked get it; a batch without one runs `run`, as if extras did not exist.
The queue is bounded: producers wait for room (backpressure), memory stays bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from app.metrics import BatchMetrics

log = logging.getLogger(__name__)
SHUTTING_DOWN = "service is shutting down"

T = TypeVar("T")
Run = Callable[[list[np.ndarray]], Sequence[T]]
RunExtra = Callable[[list[np.ndarray]], tuple[Sequence[T], Sequence[np.ndarray]]]


def stacked(predict: Callable[[np.ndarray], np.ndarray]) -> Run[float]:
    """A model taking one (N, ...) array, as a batcher's run function (frames of one shape)."""
    return lambda frames: [float(p) for p in predict(np.stack(frames))]


def stacked_extra(predict: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]) -> RunExtra[float]:
    """A model answering (N,) probabilities and (N, ...) extras for one (N, ...) array, as a
    batcher's `run_extra`."""

    def run(frames: list[np.ndarray]) -> tuple[list[float], list[np.ndarray]]:
        probabilities, extras = predict(np.stack(frames))
        return [float(p) for p in probabilities], list(extras)

    return run


@dataclass(frozen=True)
class FrameResult(Generic[T]):
    """What the batcher tells a caller about one frame: the model's answer (and its extra
answer, when the frame asked for it), and its batch."""

    value: T
    batch_id: int
    batch_size: int
    queue_wait_s: float
    inference_s: float
    extra: np.ndarray | None = None


@dataclass
class _Item(Generic[T]):
    frame: np.ndarray
    future: asyncio.Future[FrameResult[T]]
    enqueued_at: float
    extra: bool = False


class Batcher(Generic[T]):
    """Shared dynamic batcher in front of a `run(frames) -> one answer per frame` function.

    `frame_shape` fixes every frame's shape; None lets shapes differ (`run` then gets frames
    of several shapes in one batch, as the face detector does with its scales). `run_extra`,
    when the model has an extra answer, answers it beside each frame's answer."""

    def __init__(
        self,
        run: Run[T],
        frame_shape: tuple[int, int, int] | None,
        *,
        max_batch_size: int,
        max_wait_s: float,
        max_queued: int,
        metrics: BatchMetrics,
        run_extra: RunExtra[T] | None = None,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        if max_wait_s < 0:
            raise ValueError(f"max_wait_s must be >= 0, got {max_wait_s}")
        if max_queued < max_batch_size:
            raise ValueError(f"max_queued ({max_queued}) must be >= max_batch_size ({max_batch_size})")
        self._run_batch = run
        self._run_extra = run_extra
        self.frame_shape = frame_shape
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self._queue: asyncio.Queue[_Item[T]] = asyncio.Queue(maxsize=max_queued)
        self._metrics = metrics
        self._batch_ids = itertools.count()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self._worker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the worker task on the running loop."""
        self._worker = asyncio.create_task(self._run(), name="batcher")

    async def stop(self) -> None:
        """Stop the worker, fail what is still queued, release the inference thread."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        _fail([self._queue.get_nowait() for _ in range(self._queue.qsize())], RuntimeError(SHUTTING_DOWN))
        self._metrics.queue_depth.set(0)
        self._executor.shutdown(wait=True)

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    @property
    def has_extra(self) -> bool:
        """Whether frames may ask for the model's extra answer."""
        return self._run_extra is not None

    async def enqueue(self, frame: np.ndarray, *, extra: bool = False) -> asyncio.Future[FrameResult[T]]:
        """Queue one frame (waiting for room if the queue is full); returns its result future.
        With `extra`, the result carries the model's extra answer for the frame too."""
        shape_ok = frame.shape == self.frame_shape if self.frame_shape else frame.ndim == 3
        if not shape_ok or frame.dtype != np.uint8:
            expected = self.frame_shape or "(H, W, 3)"
            raise ValueError(f"frame must be uint8 {expected}, got {frame.dtype} {frame.shape}")
        if extra and self._run_extra is None:
            raise ValueError("this batcher's model has no extra answer (no run_extra was given)")
        future: asyncio.Future[FrameResult[T]] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Item(frame, future, time.perf_counter(), extra))
        self._metrics.queue_depth.set(self._queue.qsize())
        return future

    async def submit(self, frame: np.ndarray, *, extra: bool = False) -> FrameResult[T]:
        """Queue one frame and wait for its result."""
        return await (await self.enqueue(frame, extra=extra))

    async def _collect(self, batch: list[_Item[T]]) -> None:
        """Fill `batch`: the first waiting frame, then more until full or max_wait_s passed."""
        batch.append(await self._queue.get())
        deadline = time.perf_counter() + self.max_wait_s
        while len(batch) < self.max_batch_size:
            if self._queue.empty():
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                try:  # not wait_for, which in Python 3.11 swallows a stop that meets a frame
                    async with asyncio.timeout(remaining):
                        batch.append(await self._queue.get())
                except TimeoutError:
                    break
            else:
                batch.append(self._queue.get_nowait())
        self._metrics.queue_depth.set(self._queue.qsize())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch: list[_Item[T]] = []
            try:
                await self._collect(batch)
                batch = [item for item in batch if not item.future.done()]  # drop cancelled callers
                if batch:
                    await self._infer(loop, batch)
            except asyncio.CancelledError:  # stopped: the frames it holds fail like the queued
                _fail(batch, RuntimeError(SHUTTING_DOWN))
                raise

    async def _infer(self, loop: asyncio.AbstractEventLoop, batch: list[_Item[T]]) -> None:
        """Run one batch in the inference thread and resolve its frames; a failed batch
        fails its own frames, not the service."""
        started = time.perf_counter()
        try:
            answers, extras = await loop.run_in_executor(self._executor, self._answer, batch)
        except Exception as exc:
            log.exception("inference failed for a batch of %d frames", len(batch))
            _fail(batch, exc)
            return
        self._resolve(batch, answers, extras, started, time.perf_counter() - started)

    def _answer(self, batch: list[_Item[T]]) -> tuple[Sequence[T], Sequence[np.ndarray | None]]:
        """The model's answers for a batch, and each frame's extra answer (None where it did
        not ask); the extras are fetched only for a batch in which a frame asked."""
        frames = [item.frame for item in batch]
        if self._run_extra is not None and any(item.extra for item in batch):
            answers, fetched = self._run_extra(frames)
            extras = [e if i.extra else None for i, e in zip(batch, _counted(fetched, batch), strict=True)]
        else:
            answers, extras = self._run_batch(frames), [None] * len(batch)
        return _counted(answers, batch), extras

    def _resolve(
        self,
        batch: list[_Item[T]],
        answers: Sequence[T],
        extras: Sequence[np.ndarray | None],
        started: float,
        took: float,
    ) -> None:
        batch_id = next(self._batch_ids)
        m = self._metrics
        m.duration.observe(took)
        m.batch_size.observe(len(batch))
        m.items.inc(len(batch))
        for item, answer, extra in zip(batch, answers, extras, strict=True):
            wait = started - item.enqueued_at
            m.queue_wait.observe(wait)
            if not item.future.done():
                item.future.set_result(FrameResult(answer, batch_id, len(batch), wait, took, extra))


def _fail(batch: list[_Item], exc: BaseException) -> None:
    """Fail the frames of `batch` still waiting for an answer with `exc`."""
    for item in batch:
        if not item.future.done():
            item.future.set_exception(exc)


def _counted(answers: Sequence[Any], batch: list[_Item]) -> Sequence[Any]:
    """`answers`, checked to be one per frame of `batch`."""
    if len(answers) != len(batch):
        raise RuntimeError(f"the model returned {len(answers)} results for {len(batch)} frames")
    return answers
