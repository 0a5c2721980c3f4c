"""Runs queued jobs on this replica: claims them from the database up to the concurrency
limit, screens each through the shared screener, renews its lease with its progress, and
records the outcome.

A job is claimed with a lease. A replica that stops cleanly puts its running jobs back in
the queue; one that dies stops renewing, and the job is claimed again once its lease has
expired. Either way the job restarts from the beginning (`runs` counts the starts)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

from app.errors import ScreenError
from app.jobs.polling import poll
from app.jobs.progress import Progress
from app.jobs.store import Job, JobStore, Outcome
from app.schemas import ScreenOptions
from app.screening import Screener

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


class _DatabaseTime:
    """Calls into the store, in a thread, with the seconds they took added up."""

    def __init__(self) -> None:
        self.seconds = 0.0

    async def __call__(self, call: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        started = time.perf_counter()
        try:
            return await asyncio.to_thread(call, *args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started


@dataclass
class RunnerLimits:
    concurrency: int
    lease_s: float
    interval_s: float  # progress stored, lease renewed, queue polled
    retention_s: float


class JobRunner:
    """The jobs of this replica (`worker` names it in the claims)."""

    def __init__(
        self, store: JobStore, uploads: Path, worker: str, limits: RunnerLimits, finished: Callable[[], None]
    ) -> None:
        self.store, self.uploads, self.worker, self.limits = store, uploads, worker, limits
        self.wake = asyncio.Event()  # a job was submitted here
        self._finished = finished
        self._running: dict[str, asyncio.Task[None]] = {}
        self._stopping = False

    async def run(self, screener: Screener) -> None:
        """Claim and run jobs until cancelled."""
        slots = asyncio.Semaphore(self.limits.concurrency)

        async def claim() -> bool:
            await slots.acquire()
            claiming, job = _DatabaseTime(), None
            try:
                job = await claiming(self.store.claim, self.worker, time.time(), self.limits.lease_s)
            finally:
                if job is None:  # nothing to run, or the claim failed
                    slots.release()
            if job is None:
                return False
            task = asyncio.create_task(self._run(job, screener, claiming), name=f"job {job.id}")
            self._running[job.id] = task

            def ended(_: asyncio.Task[None]) -> None:
                slots.release()
                self._running.pop(job.id, None)

            task.add_done_callback(ended)
            return True

        await poll(claim, self.limits.interval_s, self.wake)

    def cancel(self, job_id: str) -> None:
        """Stop running `job_id` here at once (its row already says cancelled)."""
        if (task := self._running.get(job_id)) is not None:
            task.cancel()

    async def stop(self) -> None:
        """Stop the running jobs and put them back in the queue."""
        self._stopping = True
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, job: Job, screener: Screener, database: _DatabaseTime) -> None:
        progress = Progress()
        renewing = asyncio.create_task(self._renew(job, progress, database, asyncio.current_task()))
        try:
            outcome = await self._screen(job, screener, progress)
        except asyncio.CancelledError:
            renewing.cancel()
            await progress.wound_down(self.limits.lease_s)
            if self._stopping:
                await asyncio.to_thread(self.store.release, job, self.worker)
            return  # otherwise cancelled by its owner, or claimed again elsewhere: nothing to record
        finally:
            renewing.cancel()
        finished = time.time()
        if await database(self.store.finish, job, self.worker, outcome, finished, self.limits.retention_s,
                          database.seconds):
            log.info("job %s %s (%d frames, run %d)", job.id, outcome.status, outcome.frames_done, job.runs)
            self._finished()

    async def _renew(
        self, job: Job, progress: Progress, database: _DatabaseTime, running: asyncio.Task | None
    ) -> None:
        """Store progress and extend the lease each interval; stop the run when the job is no
        longer this replica's (cancelled, or its lease was lost)."""
        while True:
            await asyncio.sleep(self.limits.interval_s)
            lease_until = time.time() + self.limits.lease_s
            try:
                ours = await database(self.store.renew, job, self.worker, progress.done, progress.planned,
                                      lease_until)
            except Exception:  # the database away for a moment: the lease has time to spare
                log.exception("job %s: cannot renew its lease", job.id)
                continue
            if not ours:
                log.info("job %s is no longer ours to run: stopping it", job.id)
                if running is not None:
                    running.cancel()
                return

    async def _screen(self, job: Job, screener: Screener, progress: Progress) -> Outcome:
        """Screen the job's upload as /v1/screen would; its errors become a failed outcome."""
        try:
            options = ScreenOptions.model_validate(job.options)
            with (self.uploads / str(job.file_name)).open("rb") as source:
                response = await progress.screener(screener, options).screen(
                    source, options, time.perf_counter(), job.upload_s
                )
        except ScreenError as exc:
            return Outcome("failed", progress.done, progress.planned, error_code=exc.code,
                           error_message=exc.message)
        except FileNotFoundError:
            return Outcome("failed", 0, None, error_code="upload_missing", error_message=(
                f"the job's upload is not in {self.uploads}: replicas on one database must share "
                "DISTILSCREEN_DATA_DIR"))
        except Exception:
            log.exception("job %s failed unexpectedly", job.id)
            return Outcome("failed", progress.done, progress.planned, error_code="internal_error",
                           error_message="internal error; see the service log")
        screened = response.video.frames_screened
        return Outcome("succeeded", screened, screened, result=response.model_dump(mode="json"))
