"""The jobs repository: every query the routes, the runner and the webhook sender make.

Blocking (SQLAlchemy Core): callers run it in a thread. Claims are row locks on PostgreSQL
(`FOR UPDATE SKIP LOCKED`) and the write lock on SQLite (`BEGIN IMMEDIATE`), and every
update of a claimed job is conditional on still holding its claim, so a replica that lost
its lease can no longer write."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, Engine, and_, case, delete, func, insert, or_, select, update

from app.jobs.tables import jobs

Status = Literal["queued", "running", "succeeded", "failed", "cancelled"]
ACTIVE: tuple[Status, ...] = ("queued", "running")
TERMINAL: tuple[Status, ...] = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class Job:
    """One row of the jobs table."""

    seq: int
    id: str
    key_hash: str | None
    status: Status
    options: dict[str, Any]
    metadata: dict[str, Any] | None
    callback_url: str | None
    file_name: str | None
    upload_bytes: int
    upload_s: float
    created_at: float
    started_at: float | None
    finished_at: float | None
    expires_at: float | None
    frames_done: int
    frames_planned: int | None
    runs: int
    claimed_by: str | None
    lease_until: float | None
    db_s: float
    result: dict[str, Any] | None
    error_code: str | None
    error_message: str | None
    webhook_status: Literal["pending", "delivered", "failed"] | None
    webhook_attempts: list[dict[str, Any]] | None
    webhook_next_at: float | None


@dataclass(frozen=True)
class Outcome:
    """How a run ended: succeeded with a result, or failed with an error code."""

    status: Literal["succeeded", "failed"]
    frames_done: int
    frames_planned: int | None
    result: dict[str, Any] | None = None
    error_code: str | None = None
    error_message: str | None = None


def _job(row: Any) -> Job | None:
    return None if row is None else Job(**row._mapping)


def _owned(job_id: str, owner: str | None) -> ColumnElement[bool]:
    """The job `job_id`, if `owner` (a key hash; None: keys are off) made it."""
    return and_(jobs.c.id == job_id, jobs.c.key_hash == owner) if owner else jobs.c.id == job_id


class JobStore:
    """The jobs table behind `engine`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(
        self, job_id: str, owner: str | None, options: dict[str, Any], metadata: dict[str, Any] | None,
        callback_url: str | None, file_name: str, upload_bytes: int, upload_s: float, now: float,
    ) -> Job:
        """A new queued job."""
        values = dict(
            id=job_id, key_hash=owner, status="queued", options=options, metadata=metadata,
            callback_url=callback_url, file_name=file_name, upload_bytes=upload_bytes, upload_s=upload_s,
            created_at=now, frames_done=0, runs=0, db_s=0.0,
        )
        with self.engine.begin() as conn:
            return _job(conn.execute(insert(jobs).values(values).returning(*jobs.c)).first())

    def get(self, job_id: str, owner: str | None) -> Job | None:
        with self.engine.begin() as conn:
            return _job(conn.execute(select(jobs).where(_owned(job_id, owner))).first())

    def page(
        self, owner: str | None, status: Status | None, since: float | None, before: int | None, limit: int
    ) -> tuple[list[Job], int | None]:
        """Jobs newest first, after the cursor `before` (a seq); the next page's cursor, if any."""
        query = select(jobs).order_by(jobs.c.seq.desc()).limit(limit + 1)
        if owner:
            query = query.where(jobs.c.key_hash == owner)
        if status:
            query = query.where(jobs.c.status == status)
        if since is not None:
            query = query.where(jobs.c.created_at >= since)
        if before is not None:
            query = query.where(jobs.c.seq < before)
        with self.engine.begin() as conn:
            found = [_job(row) for row in conn.execute(query)]
        return found[:limit], found[limit - 1].seq if len(found) > limit else None

    def count_queued(self) -> int:
        with self.engine.begin() as conn:
            return conn.execute(select(func.count()).where(jobs.c.status == "queued")).scalar_one()

    def claim(self, worker: str, now: float, lease_s: float) -> Job | None:
        """Take the oldest queued job, or a running one whose lease expired, for `worker`."""
        claimable = or_(jobs.c.status == "queued", and_(jobs.c.status == "running", jobs.c.lease_until < now))
        oldest = select(jobs.c.seq).where(claimable).order_by(jobs.c.seq).limit(1)
        with self.engine.begin() as conn:
            seq = conn.execute(oldest.with_for_update(skip_locked=True)).scalar()
            if seq is None:
                return None
            taken = update(jobs).where(jobs.c.seq == seq, claimable).values(
                status="running", claimed_by=worker, lease_until=now + lease_s, started_at=now,
                runs=jobs.c.runs + 1, frames_done=0,
            )
            return _job(conn.execute(taken.returning(*jobs.c)).first())

    def _claimed(self, job: Job, worker: str) -> ColumnElement[bool]:
        return and_(jobs.c.seq == job.seq, jobs.c.claimed_by == worker, jobs.c.status == "running")

    def renew(
        self, job: Job, worker: str, frames_done: int, frames_planned: int | None, lease_until: float
    ) -> bool:
        """Store progress and extend the lease; False when the job is no longer this worker's
        to run (cancelled, or claimed again after the lease expired)."""
        with self.engine.begin() as conn:
            renewed = update(jobs).where(self._claimed(job, worker)).values(
                frames_done=frames_done, frames_planned=frames_planned, lease_until=lease_until
            )
            return conn.execute(renewed).rowcount == 1

    def finish(
        self, job: Job, worker: str, outcome: Outcome, now: float, retention_s: float, db_s: float
    ) -> bool:
        """Record the run's outcome (its webhook is then due); False when no longer ours."""
        with self.engine.begin() as conn:
            done = update(jobs).where(self._claimed(job, worker)).values(
                status=outcome.status, result=outcome.result, error_code=outcome.error_code,
                error_message=outcome.error_message, frames_done=outcome.frames_done,
                frames_planned=outcome.frames_planned, lease_until=None, db_s=jobs.c.db_s + db_s,
                **_terminal(now, retention_s),
            )
            return conn.execute(done).rowcount == 1

    def release(self, job: Job, worker: str) -> None:
        """Put a job this worker was running back in the queue (the service is stopping)."""
        with self.engine.begin() as conn:
            conn.execute(update(jobs).where(self._claimed(job, worker)).values(
                status="queued", claimed_by=None, lease_until=None, frames_done=0
            ))

    def cancel(self, job_id: str, owner: str | None, now: float, retention_s: float) -> Job | None:
        """Cancel a queued or running job (the replica running it sees so at its next
        renewal); None when there is no such active job."""
        with self.engine.begin() as conn:
            cancelled = update(jobs).where(_owned(job_id, owner), jobs.c.status.in_(ACTIVE)).values(
                status="cancelled", lease_until=None, **_terminal(now, retention_s)
            )
            return _job(conn.execute(cancelled.returning(*jobs.c)).first())

    def delete(self, job_id: str, owner: str | None) -> Job | None:
        """Delete a finished job; returns it (to remove its file), None when there is none."""
        with self.engine.begin() as conn:
            gone = delete(jobs).where(_owned(job_id, owner), jobs.c.status.in_(TERMINAL))
            return _job(conn.execute(gone.returning(*jobs.c)).first())

    def expire(self, now: float) -> list[str]:
        """Delete the finished jobs past their retention; the names of their files."""
        with self.engine.begin() as conn:
            gone = delete(jobs).where(jobs.c.expires_at < now).returning(jobs.c.file_name)
            return [name for (name,) in conn.execute(gone) if name]

    def due_webhook(self, now: float, lease_s: float) -> Job | None:
        """Claim the webhook due first: it is not due again for `lease_s` unless recorded."""
        due = and_(jobs.c.webhook_status == "pending", jobs.c.webhook_next_at <= now)
        first = select(jobs.c.seq).where(due).order_by(jobs.c.webhook_next_at).limit(1)
        with self.engine.begin() as conn:
            seq = conn.execute(first.with_for_update(skip_locked=True)).scalar()
            if seq is None:
                return None
            taken = update(jobs).where(jobs.c.seq == seq, due).values(webhook_next_at=now + lease_s)
            return _job(conn.execute(taken.returning(*jobs.c)).first())

    def record_delivery(
        self, job: Job, attempts: Sequence[dict[str, Any]], status: str, next_at: float | None
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(jobs).where(jobs.c.seq == job.seq).values(
                webhook_attempts=list(attempts), webhook_status=status, webhook_next_at=next_at
            ))


def _terminal(now: float, retention_s: float) -> dict[str, Any]:
    """The values every terminal status sets: when, when it expires, its webhook due now."""
    return dict(
        finished_at=now, expires_at=now + retention_s,
        webhook_status=case((jobs.c.callback_url.is_not(None), "pending"), else_=None),
        webhook_next_at=case((jobs.c.callback_url.is_not(None), now), else_=None),
    )
