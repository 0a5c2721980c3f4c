"""The jobs API's bodies (they are its OpenAPI schema), and a stored job as the API shows it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Json, field_validator

from app.jobs.store import Job, Status
from app.schemas import ErrorDetail, ScreenResponse

MAX_METADATA_BYTES = 4096
JOBS_PATH = "/v1/jobs"


class JobFields(BaseModel):
    """What a job takes beyond /v1/screen's options (query parameters or form fields)."""

    model_config = ConfigDict(extra="forbid")

    callback_url: str | None = Field(
        None, max_length=2048,
        description="POSTed the job when it ends; its host must be in DISTILSCREEN_WEBHOOK_ALLOWED_HOSTS",
    )
    metadata: Json[dict[str, Any]] | None = Field(
        None, description=f"a JSON object, at most {MAX_METADATA_BYTES} bytes, echoed back with the job"
    )

    @field_validator("metadata")
    @classmethod
    def _small(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(json.dumps(value)) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata must be at most {MAX_METADATA_BYTES} bytes of JSON")
        return value


class JobProgress(BaseModel):
    frames_done: int = Field(description="frames screened so far (of this run)")
    frames_planned: int | None = Field(
        description="frames this job will screen, as the container tells; null until the video is "
        "opened, or when it cannot be told before decoding (keyframes)"
    )


class WebhookAttempt(BaseModel):
    at: datetime
    status_code: int | None = Field(description="the receiver's HTTP status; null when none came")
    error: str | None = Field(description="why the attempt failed; null when it was delivered")


class WebhookState(BaseModel):
    url: str
    status: Literal["pending", "delivered", "failed"] = Field(
        description="failed: not delivered after DISTILSCREEN_WEBHOOK_MAX_ATTEMPTS attempts"
    )
    attempts: list[WebhookAttempt]


class JobView(BaseModel):
    """A job. `result` is /v1/screen's answer once it has succeeded; `error` has /v1/screen's
    error codes once it has failed."""

    id: str
    status: Status
    created_at: datetime
    started_at: datetime | None = Field(description="when its latest run began")
    finished_at: datetime | None
    expires_at: datetime | None = Field(description="when it and its upload are deleted")
    progress: JobProgress
    runs: int = Field(description="times it was started: more than 1 after a replica stopped mid-run")
    options: dict[str, Any]
    metadata: dict[str, Any] | None
    result: ScreenResponse | None = Field(description="once succeeded (lists leave it out)")
    error: ErrorDetail | None
    webhook: WebhookState | None
    db_s: float = Field(description="seconds its runs spent in database calls")
    links: dict[str, str] = Field(description="self, and result")


class JobPage(BaseModel):
    jobs: list[JobView] = Field(description="newest first, without their results")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")


def _at(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def job_view(job: Job, with_result: bool = True) -> JobView:
    """The API's view of a stored job."""
    error = ErrorDetail(code=job.error_code, message=job.error_message or "") if job.error_code else None
    webhook = None
    if job.callback_url and job.webhook_status:
        attempts = [WebhookAttempt.model_validate(a) for a in job.webhook_attempts or []]
        webhook = WebhookState(url=job.callback_url, status=job.webhook_status, attempts=attempts)
    return JobView(
        id=job.id, status=job.status, created_at=_at(job.created_at), started_at=_at(job.started_at),
        finished_at=_at(job.finished_at), expires_at=_at(job.expires_at),
        progress=JobProgress(frames_done=job.frames_done, frames_planned=job.frames_planned),
        runs=job.runs, options=job.options, metadata=job.metadata,
        result=ScreenResponse.model_validate(job.result) if with_result and job.result else None,
        error=error, webhook=webhook, db_s=job.db_s,
        links={"self": f"{JOBS_PATH}/{job.id}", "result": f"{JOBS_PATH}/{job.id}/result"},
    )
