"""The loop behind the runner, the webhook sender and the sweeper: do a step of work while
there is some, else wait for a wake-up or the next period."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def poll(
    step: Callable[[], Awaitable[bool]], period_s: float, wake: asyncio.Event | None = None
) -> None:
    """Run `step` (True: it found work, step again at once) until cancelled. A step that
    fails (the database away for a moment) is logged and retried after a period."""
    while True:
        try:
            if await step():
                continue
        except Exception:
            log.exception("%s failed; retrying in %s s", getattr(step, "__qualname__", step), period_s)
        if wake is None:
            await asyncio.sleep(period_s)
            continue
        # asyncio.timeout, not wait_for: Python 3.11's wait_for swallows a cancel that
        # arrives as the event is set, and the loop would never stop
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(period_s):
                await wake.wait()
        wake.clear()
