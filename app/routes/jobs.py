"""/v1/jobs: submit a video as a job, poll it, list, cancel or delete it."""

from __future__ import annotations

import asyncio
import copy
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.routing import APIRoute
from pydantic import BeforeValidator, ValidationError
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from app.config import Settings
from app.deps import AdmissionDep, JobsDep, OwnerDep, ScreenerDep, SettingsDep, screen_options
from app.errors import InvalidOptions, JobNotDone, JobNotFound, explain
from app.http import error_responses
from app.ingest import given_once, receive_within
from app.jobs.schemas import JobFields, JobPage, JobView, job_view
from app.jobs.service import vet
from app.jobs.store import Status
from app.jobs.webhooks import check_callback
from app.routes import screen
from app.schemas import ScreenResponse


class _SharedPathRoute(APIRoute):
    """A route whose 405 answer allows every method of its path: GET and POST share
    /v1/jobs, GET and DELETE /v1/jobs/{job_id} (Starlette would name only its own)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            siblings = [r for r in scope["router"].routes if getattr(r, "path", None) == self.path]
            allowed = sorted({m for r in siblings for m in getattr(r, "methods", None) or ()})
            raise HTTPException(status_code=405, headers={"Allow": ", ".join(allowed)})
        await super().handle(scope, receive, send)


router = APIRouter(prefix="/v1", tags=["jobs"], route_class=_SharedPathRoute)

def _not_a_number(value: object) -> object:
    """pydantic reads a number as Unix seconds; a date-time parameter takes ISO 8601 only."""
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?[\d.eE+-]+\s*", value):
        raise ValueError("a date-time must be ISO 8601 (2026-12-01T12:00:00Z), not a number")
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_not_a_number)]
JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="the id POST /v1/jobs gave")]
_JOB_FIELDS = set(JobFields.model_fields)
_NOT_FOUND = error_responses({404: "no such job, or another API key's"})


def _submit_openapi() -> dict[str, Any]:
    """/v1/screen's parameters and body, with the job's fields beside the options."""
    extra = copy.deepcopy(screen.UPLOAD_OPENAPI)
    fields = JobFields.model_json_schema(schema_generator=screen.Omittable)["properties"]
    fields["metadata"] = {"type": "string", "contentMediaType": "application/json",
                          "description": fields["metadata"]["description"]}
    [query] = extra["parameters"]
    form = extra["requestBody"]["content"]["multipart/form-data"]["schema"]
    for schema in (query["schema"], form):
        schema["properties"] |= fields
    return extra


def _job_fields(values: Mapping[str, str], settings: Settings) -> JobFields:
    """The job's own fields, validated; a callback only to an allowed host."""
    try:
        fields = JobFields.model_validate(dict(values))
    except ValidationError as exc:
        raise InvalidOptions(explain(exc.errors())) from exc
    if fields.callback_url is not None:
        check_callback(fields.callback_url, settings.webhook_allowed_hosts)
    return fields


def _split(values: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(screening options, job fields) of a query string or form."""
    items = dict(values).items()
    return {k: v for k, v in items if k not in _JOB_FIELDS}, {k: v for k, v in items if k in _JOB_FIELDS}


@router.post(
    "/jobs", status_code=202, openapi_extra=_submit_openapi(),
    responses=screen.UPLOAD_ERRORS | error_responses({429: "too many uploads or queued jobs (Retry-After)"}),
)
async def submit_job(
    request: Request, response: Response, screener: ScreenerDep, settings: SettingsDep,
    admission: AdmissionDep, jobs: JobsDep, owner: OwnerDep,
) -> JobView:
    """Submit a video as a job: /v1/screen's body and options, plus `callback_url` and
    `metadata`. Answers 202 once the upload is stored; poll `links.self`, or get a webhook.

    The upload's size and type, the options, and the container and first frame (opened in a
    decoder worker) are checked here, with /v1/screen's codes; what only decoding finds
    makes a failed job with them."""
    given_once([k for k, _ in request.query_params.multi_items()], "query parameters")
    query_options, query_fields = _split(request.query_params)
    # refuse bad options before reading the upload
    screen_options(query_options)
    _job_fields(query_fields, settings)
    started = time.perf_counter()
    with admission.admit("upload"):
        async with receive_within(request, settings.max_upload_bytes, settings.request_deadline_s) as upload:
            form_options, form_fields = _split(upload.fields)
            options = screen_options(query_options | form_options)
            fields = _job_fields(query_fields | form_fields, settings)
            screener.sampling(options)  # the frame limits, now rather than as a failed job
            await asyncio.to_thread(vet, screener, upload.file)
            job = await jobs.submit(upload.file, options, owner, fields.callback_url, fields.metadata,
                                    time.perf_counter() - started)
    view = job_view(job)
    response.headers["Location"] = view.links["self"]
    return view


async def _get(jobs: JobsDep, job_id: str, owner: str | None) -> JobView:
    job = await asyncio.to_thread(jobs.store.get, job_id, owner)
    if job is None:
        raise JobNotFound(f"no job {job_id!r}")
    return job_view(job)


@router.get("/jobs/{job_id}", responses=_NOT_FOUND)
async def get_job(job_id: JobId, jobs: JobsDep, owner: OwnerDep) -> JobView:
    """A job: its status and progress; its result once succeeded, its error once failed."""
    return await _get(jobs, job_id, owner)


@router.get("/jobs/{job_id}/result", responses=_NOT_FOUND | error_responses({409: "not succeeded (yet)"}))
async def get_job_result(job_id: JobId, jobs: JobsDep, owner: OwnerDep) -> ScreenResponse:
    """A succeeded job's result: exactly what /v1/screen answers."""
    view = await _get(jobs, job_id, owner)
    if view.result is None:
        raise JobNotDone(f"job {job_id} is {view.status}, not succeeded")
    return view.result


@router.get("/jobs")
async def list_jobs(
    jobs: JobsDep,
    owner: OwnerDep,
    status: Annotated[Status | None, Query(description="only jobs with this status")] = None,
    since: Annotated[IsoDateTime | None, Query(description="only jobs created at or after (ISO 8601; UTC "
                                                           "when no zone is given)")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="jobs per page")] = 20,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,9}$", description="next_cursor of the "
                                                                              "previous page")] = None,
) -> JobPage:
    """The jobs (of this API key, when keys are set), newest first, a page at a time."""
    after = None if since is None else (since if since.tzinfo else since.replace(tzinfo=UTC)).timestamp()
    found, more = await asyncio.to_thread(
        jobs.store.page, owner, status, after, None if cursor is None else int(cursor), limit
    )
    return JobPage(jobs=[job_view(j, with_result=False) for j in found],
                   next_cursor=None if more is None else str(more))


@router.delete("/jobs/{job_id}", response_model=JobView,
               responses=_NOT_FOUND | {204: {"description": "the finished job and its file deleted"}})
async def delete_job(job_id: JobId, jobs: JobsDep, owner: OwnerDep) -> JobView | Response:
    """Cancel a queued or running job (200, the job now cancelled), or delete a finished one
    and its stored upload (204)."""
    cancelled = await jobs.cancel_or_delete(job_id, owner)
    return Response(status_code=204) if cancelled is None else job_view(cancelled)
