"""The loop behind the runner, the webhook sender and the sweeper stops when it is told to."""

from __future__ import annotations

import asyncio

import pytest

from app.jobs.polling import poll

pytestmark = pytest.mark.anyio
TIMEOUT_S = 30  # only ever reached when something is broken: a failure, not a hang


async def test_a_cancel_that_meets_a_wake_up_still_stops_the_loop() -> None:
    steps, wake = [], asyncio.Event()

    async def step() -> bool:
        steps.append(1)
        return False

    polling = asyncio.create_task(poll(step, TIMEOUT_S, wake))
    await asyncio.sleep(0.05)  # it found no work and waits for a wake-up
    wake.set()  # the wake-up and the cancel land in one loop step
    polling.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(polling, TIMEOUT_S)
    assert steps == [1]
