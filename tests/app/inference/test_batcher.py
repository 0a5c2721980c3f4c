"""The shared batcher: batches mix callers, results map back, failures stay local."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from app.inference.batcher import Batcher
from app.metrics import Metrics

pytestmark = pytest.mark.anyio
SHAPE = (4, 4, 3)


def frame(value: int) -> np.ndarray:
    return np.full(SHAPE, value, np.uint8)


class GatedModel:
    """p = mean pixel / 255; the first batch waits for `release`, so others pile up."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.batches: list[int] = []

    def __call__(self, frames: list[np.ndarray]) -> np.ndarray:
        self.entered.set()
        self.release.wait(timeout=10)
        self.batches.append(len(frames))
        return np.stack(frames).reshape(len(frames), -1).mean(axis=1) / 255


def make(predict, max_batch_size: int = 4, max_wait_s: float = 0.0, max_queued: int = 64) -> Batcher:
    return Batcher(
        predict,
        SHAPE,
        max_batch_size=max_batch_size,
        max_wait_s=max_wait_s,
        max_queued=max_queued,
        metrics=Metrics().classifier_batches,
    )


async def test_frames_from_many_callers_share_batches_and_map_back() -> None:
    model = GatedModel()
    batcher = make(model, max_batch_size=4)
    await batcher.start()
    first = asyncio.create_task(batcher.submit(frame(0)))
    await asyncio.to_thread(model.entered.wait)  # the first batch is running; the rest queue up
    callers = [asyncio.create_task(batcher.submit(frame(v))) for v in range(1, 10)]
    while batcher.queued < 9:
        await asyncio.sleep(0)
    model.release.set()
    results = await asyncio.gather(first, *callers)
    await batcher.stop()
    assert model.batches == [1, 4, 4, 1]
    assert [r.value for r in results] == pytest.approx([v / 255 for v in range(10)])
    assert {r.batch_size for r in results[1:5]} == {4}
    assert len({r.batch_id for r in results}) == 4


async def test_a_lone_frame_waits_at_most_max_wait() -> None:
    batcher = make(lambda f: np.zeros(len(f)), max_wait_s=0.001)
    await batcher.start()
    result = await asyncio.wait_for(batcher.submit(frame(1)), timeout=5)
    await batcher.stop()
    assert result.batch_size == 1


async def test_a_failing_batch_fails_only_its_frames() -> None:
    calls = 0

    def flaky(frames: list[np.ndarray]) -> np.ndarray:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return np.ones(len(frames))

    batcher = make(flaky)
    await batcher.start()
    with pytest.raises(RuntimeError, match="boom"):
        await batcher.submit(frame(1))
    assert (await batcher.submit(frame(2))).value == 1.0
    await batcher.stop()


async def test_a_wrong_number_of_results_is_an_error() -> None:
    batcher = make(lambda f: np.ones(len(f) + 1))
    await batcher.start()
    with pytest.raises(RuntimeError, match="2 results for 1 frames"):
        await batcher.submit(frame(1))
    await batcher.stop()


async def test_cancelled_frames_are_not_run() -> None:
    model = GatedModel()
    batcher = make(model, max_batch_size=8)
    await batcher.start()
    first = asyncio.create_task(batcher.submit(frame(0)))
    await asyncio.to_thread(model.entered.wait)
    futures = [await batcher.enqueue(frame(v)) for v in range(1, 4)]
    futures[1].cancel()
    model.release.set()
    await first
    assert [(await f).value for f in (futures[0], futures[2])] == pytest.approx([1 / 255, 3 / 255])
    await batcher.stop()
    assert model.batches == [1, 2]


async def test_bad_frames_and_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="max_batch_size must be >= 1"):
        make(lambda f: f, max_batch_size=0)
    with pytest.raises(ValueError, match="max_queued"):
        make(lambda f: f, max_batch_size=8, max_queued=4)
    batcher = make(lambda f: np.zeros(len(f)))
    with pytest.raises(ValueError, match="uint8"):
        await batcher.enqueue(np.zeros(SHAPE, np.float32))
