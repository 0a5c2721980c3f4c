"""The shared batcher: batches mix callers, results map back, failures stay local."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from app.inference.batcher import SHUTTING_DOWN, Batcher
from app.metrics import BatchMetrics, Metrics

pytestmark = pytest.mark.anyio
SHAPE = (4, 4, 3)
TIMEOUT_S = 30  # only ever reached when something is broken: a failure, not a hang


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


def make(
    predict: Callable[[list[np.ndarray]], np.ndarray],
    max_batch_size: int = 4,
    max_wait_s: float = 0.0,
    max_queued: int = 64,
    metrics: BatchMetrics | None = None,
) -> Batcher:
    return Batcher(
        predict,
        SHAPE,
        max_batch_size=max_batch_size,
        max_wait_s=max_wait_s,
        max_queued=max_queued,
        metrics=metrics or Metrics().classifier_batches,
    )


async def entered(model: GatedModel) -> None:
    """Wait until the model's first batch runs (the rest then queue up)."""
    assert await asyncio.to_thread(model.entered.wait, TIMEOUT_S), "the first batch never ran"


async def test_frames_from_many_callers_share_batches_and_map_back() -> None:
    model = GatedModel()
    batcher = make(model, max_batch_size=4)
    await batcher.start()
    first = asyncio.create_task(batcher.submit(frame(0)))
    await entered(model)
    callers = [await batcher.enqueue(frame(v)) for v in range(1, 10)]  # room for all: queued at once
    assert batcher.queued == 9
    model.release.set()
    results = await asyncio.wait_for(asyncio.gather(first, *callers), TIMEOUT_S)
    await batcher.stop()
    assert model.batches == [1, 4, 4, 1]
    assert [r.value for r in results] == pytest.approx([v / 255 for v in range(10)])
    assert {r.batch_size for r in results[1:5]} == {4}
    assert len({r.batch_id for r in results}) == 4


async def test_batches_are_counted_in_the_batchers_metrics() -> None:
    metrics = Metrics()
    model = GatedModel()
    batcher = make(model, max_batch_size=4, metrics=metrics.classifier_batches)

    def sample(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, labels)

    await batcher.start()
    first = asyncio.create_task(batcher.submit(frame(0)))
    await entered(model)
    queued = [await batcher.enqueue(frame(v)) for v in range(1, 10)]
    assert sample("distilscreen_queue_depth_frames") == 9
    model.release.set()
    await asyncio.wait_for(asyncio.gather(first, *queued), TIMEOUT_S)
    assert model.batches == [1, 4, 4, 1]
    assert sample("distilscreen_frames_screened_total") == 10
    assert sample("distilscreen_batch_size_frames_count") == 4
    assert sample("distilscreen_batch_size_frames_sum") == 10
    assert sample("distilscreen_batch_size_frames_bucket", le="1.0") == 2
    assert sample("distilscreen_batch_size_frames_bucket", le="4.0") == 4
    assert sample("distilscreen_inference_duration_seconds_count") == 4
    assert sample("distilscreen_queue_wait_seconds_count") == 10
    assert sample("distilscreen_queue_depth_frames") == 0  # emptied by the batches, before stop()
    await batcher.stop()
    assert sample("distilscreen_face_detector_frames_total") == 0  # the other batcher's stay apart


async def test_a_lone_frame_waits_max_wait_for_company_then_runs_alone() -> None:
    """Lone frames queued together in two batchers: each runs alone once its batcher's
    max_wait has passed, not before; the short wait's batch runs before the long max_wait is
    up (a batcher that waited seconds, or ignored max_wait, fails here)."""
    short_wait, long_wait = 0.05, 1.5
    ran: dict[str, float] = {}

    def model(name: str) -> Callable[[list[np.ndarray]], np.ndarray]:
        def run(frames: list[np.ndarray]) -> np.ndarray:
            ran.setdefault(name, time.perf_counter())
            return np.zeros(len(frames))

        return run

    short, long = make(model("short"), max_wait_s=short_wait), make(model("long"), max_wait_s=long_wait)
    await short.start()
    await long.start()
    queued_at = time.perf_counter()
    results = await asyncio.wait_for(asyncio.gather(short.submit(frame(1)), long.submit(frame(2))), TIMEOUT_S)
    await short.stop()
    await long.stop()
    assert [r.batch_size for r in results] == [1, 1]
    waited = {name: at - queued_at for name, at in ran.items()}
    assert list(ran) == ["short", "long"], waited
    assert waited["short"] >= short_wait * 0.99 and waited["long"] >= long_wait * 0.99, waited
    assert waited["short"] < long_wait, waited


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
    await entered(model)
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


async def test_extras_are_fetched_for_batches_that_ask_and_given_to_the_frames_that_asked() -> None:
    model = GatedModel()
    runs: list[str] = []

    def plain(frames: list[np.ndarray]) -> np.ndarray:
        runs.append("plain")
        return model(frames)

    def with_extra(frames: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        runs.append("extra")
        return model(frames), [f[..., 0] for f in frames]  # the frame's first plane as its "map"

    batcher = Batcher(plain, SHAPE, max_batch_size=8, max_wait_s=0.0, max_queued=64,
                      metrics=Metrics().classifier_batches, run_extra=with_extra)
    assert batcher.has_extra and not make(plain).has_extra
    await batcher.start()
    first = asyncio.create_task(batcher.submit(frame(0)))
    await entered(model)
    asked, unasked = await batcher.enqueue(frame(7), extra=True), await batcher.enqueue(frame(9))
    model.release.set()
    assert (await first).extra is None
    done = [await asked, await unasked]
    np.testing.assert_array_equal(done[0].extra, np.full(SHAPE[:2], 7))
    assert done[1].extra is None and done[0].batch_id == done[1].batch_id  # one batch, fetched once
    assert [r.value for r in done] == pytest.approx([7 / 255, 9 / 255])
    assert runs == ["plain", "extra"]
    await batcher.stop()


async def test_an_extra_is_refused_where_the_model_has_none() -> None:
    batcher = make(lambda f: np.zeros(len(f)))
    with pytest.raises(ValueError, match="no extra answer"):
        await batcher.enqueue(frame(1), extra=True)


async def test_stop_ends_the_worker_even_as_a_frame_arrives() -> None:
    # the frame wakes the worker's wait for company in the very loop step that cancels it
    batcher = make(lambda f: np.zeros(len(f)), max_batch_size=4, max_wait_s=4 * TIMEOUT_S)
    await batcher.start()
    held = await batcher.enqueue(frame(1))
    await asyncio.sleep(0.05)  # the worker holds the frame and waits for company
    last = await batcher.enqueue(frame(2))
    await asyncio.wait_for(batcher.stop(), TIMEOUT_S)
    for future in (held, last):  # what the worker held fails as the queued frames do
        with pytest.raises(RuntimeError, match=SHUTTING_DOWN):
            await future
