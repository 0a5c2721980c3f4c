"""The jobs part of the service, made in the lifespan: the store, the uploads folder, and
the background tasks (runner, webhook sender, sweeper of expired jobs)."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from app.config import Settings
from app.errors import JobNotFound, TooManyJobs
from app.jobs.database import database_url, make_engine, migrate
from app.jobs.polling import poll
from app.jobs.runner import JobRunner, RunnerLimits
from app.jobs.schemas import job_view
from app.jobs.store import Job, JobStore
from app.jobs.webhooks import WebhookPolicy, WebhookSender
from app.schemas import ScreenOptions
from app.screening import Screener
from app.video.decode import Sampling

log = logging.getLogger(__name__)
UPLOADS = "uploads"
SWEEP_PERIOD_S = 60.0


def vet(screener: Screener, source: BinaryIO) -> None:
    """Open the video as screening will, in a decoder worker, and decode its first frame:
    what cannot be screened at all is refused at submit time with /v1/screen's code. (A
    reader closed before its decoding ends costs its worker; one that ends is reused.)"""
    with screener.decoder.open(source, screener.limits, screener.decode_threads) as reader:
        for _ in reader.converted(Sampling(max_frames=1), screener.judge.conversions, check_complete=False):
            pass
    source.seek(0)


def render(job: Job) -> bytes:
    """A webhook's body: the job as GET /v1/jobs/{id} shows it, without its delivery state."""
    return job_view(job).model_dump_json(exclude={"webhook"}).encode()


@dataclass
class Jobs:
    """Submitting, running, delivering and expiring jobs."""

    store: JobStore
    uploads: Path
    runner: JobRunner
    webhooks: WebhookSender
    retention_s: float
    max_queued: int
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def open(cls, settings: Settings) -> Jobs:
        """Connect to (and migrate) the database, make the uploads folder. Blocking."""
        uploads = settings.data_dir / UPLOADS
        uploads.mkdir(parents=True, exist_ok=True)
        url = settings.database_url.get_secret_value() if settings.database_url else None
        engine = make_engine(database_url(url, settings.data_dir))
        migrate(engine)
        store = JobStore(engine)
        secret = settings.webhook_secret.get_secret_value().encode() if settings.webhook_secret else b""
        policy = WebhookPolicy(tuple(settings.webhook_allowed_hosts), secret, settings.webhook_max_attempts,
                               settings.webhook_backoff_s, settings.webhook_timeout_s)
        webhooks = WebhookSender(store, policy, render, settings.job_progress_interval_s)
        limits = RunnerLimits(settings.max_active_jobs, settings.job_lease_s,
                              settings.job_progress_interval_s, settings.job_retention_s)
        worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        runner = JobRunner(store, uploads, worker, limits, webhooks.wake.set)
        log.info("jobs: %s, uploads in %s, worker %s", engine.url.render_as_string(), uploads, worker)
        return cls(store, uploads, runner, webhooks, settings.job_retention_s, settings.max_queued_jobs)

    def start(self, screener: Screener, ready: asyncio.Event) -> None:
        """Start the background tasks; jobs run once the model has warmed up."""

        async def run_when_ready() -> None:
            await ready.wait()
            await self.runner.run(screener)

        period = min(SWEEP_PERIOD_S, self.retention_s / 2)
        self._tasks = [asyncio.create_task(run_when_ready(), name="job runner"),
                       asyncio.create_task(self.webhooks.run(), name="webhooks"),
                       asyncio.create_task(poll(self.sweep, period), name="job sweeper")]

    async def stop(self) -> None:
        """Stop the background tasks; this replica's running jobs go back in the queue."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.runner.stop()
        self.store.engine.dispose()

    async def submit(
        self, source: BinaryIO, options: ScreenOptions, owner: str | None, callback_url: str | None,
        metadata: dict[str, Any] | None, upload_s: float,
    ) -> Job:
        """Store the upload in the job's own file, then queue the job (429 when the queue is full)."""
        if await asyncio.to_thread(self.store.count_queued) >= self.max_queued:
            raise TooManyJobs(f"{self.max_queued} jobs are queued (the limit)", retry_after_s=5)
        job_id = uuid.uuid4().hex
        name = f"{job_id}.video"
        size = await asyncio.to_thread(self._spool, source, name)
        try:
            job = await asyncio.to_thread(
                self.store.create, job_id, owner, options.model_dump(exclude_unset=True), metadata,
                callback_url, name, size, upload_s, time.time(),
            )
        except BaseException:
            self.remove(name)
            raise
        self.runner.wake.set()
        return job

    def _spool(self, source: BinaryIO, name: str) -> int:
        """Copy the upload into the uploads folder (under a temporary name until complete)."""
        partial = self.uploads / f"{name}.part"
        with partial.open("wb") as out:
            shutil.copyfileobj(source, out, 1024 * 1024)
            size = out.tell()
        partial.rename(self.uploads / name)
        return size

    def remove(self, name: str | None) -> None:
        """Delete a job's upload, if it is still there."""
        if name:
            (self.uploads / name).unlink(missing_ok=True)

    async def sweep(self) -> bool:
        """Delete the jobs past their retention, and their files."""
        names = await asyncio.to_thread(self.store.expire, time.time())
        for name in names:
            self.remove(name)
        if names:
            log.info("expired %d jobs", len(names))
        return False

    async def cancel_or_delete(self, job_id: str, owner: str | None) -> Job | None:
        """Cancel an active job (returned), or delete a finished one and its file (None)."""
        cancelled = await asyncio.to_thread(self.store.cancel, job_id, owner, time.time(), self.retention_s)
        if cancelled is not None:
            self.runner.cancel(job_id)
            self.webhooks.wake.set()
            return cancelled
        deleted = await asyncio.to_thread(self.store.delete, job_id, owner)
        if deleted is None:
            raise JobNotFound(f"no job {job_id!r}")
        self.remove(deleted.file_name)
        return None
