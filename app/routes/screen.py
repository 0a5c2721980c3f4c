"""POST /v1/screen: upload a video, get per-frame synthetic probabilities."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError

from app.deps import AdmissionDep, ScreenerDep, SettingsDep
from app.errors import DeadlineExceeded, InvalidOptions, explain
from app.ingest import FILE_FIELD, receive_upload
from app.schemas import ErrorResponse, ScreenOptions, ScreenResponse

router = APIRouter(prefix="/v1", tags=["screen"])

_BINARY = {"type": "string", "format": "binary"}
_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": [FILE_FIELD],
                "properties": {FILE_FIELD: _BINARY}
                | {name: {"type": "string"} for name in ScreenOptions.model_fields},
            }
        },
        "video/*": {"schema": _BINARY},
        "application/octet-stream": {"schema": _BINARY},
    },
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in {
        400: "empty or malformed upload",
        401: "missing or invalid API key",
        413: "upload too large",
        415: "not a video, or an unsupported codec or content type",
        422: "bad options, corrupt, too long or too large a video",
        429: "too many requests being served (with Retry-After)",
        503: "model not ready, or the request deadline passed (with Retry-After)",
    }.items()
}


def _merge(query: ScreenOptions, fields: dict[str, str]) -> ScreenOptions:
    """Options from the query string, with form fields (multipart only) on top."""
    try:
        return ScreenOptions.model_validate(query.model_dump(exclude_unset=True) | fields)
    except ValidationError as exc:
        raise InvalidOptions(explain(exc.errors())) from exc


@router.post("/screen", openapi_extra={"requestBody": _REQUEST_BODY}, responses=_ERRORS)
async def screen(
    request: Request,
    options: Annotated[ScreenOptions, Query()],
    screener: ScreenerDep,
    settings: SettingsDep,
    admission: AdmissionDep,
) -> ScreenResponse:
    """Screen an uploaded video (multipart `file` part, or a raw `video/*` body).

    Options come as query parameters, or as form fields beside the file. The answer has one
    probability per screened frame, a video summary and timings.
    """
    started = time.perf_counter()
    with admission.admit("upload"):
        try:
            async with (
                asyncio.timeout(settings.request_deadline_s),
                receive_upload(request, settings.max_upload_bytes) as upload,
            ):
                received = time.perf_counter() - started
                return await screener.screen(upload.file, _merge(options, upload.fields), started, received)
        except TimeoutError as exc:
            raise DeadlineExceeded(
                f"the request took longer than {settings.request_deadline_s} s", retry_after_s=1
            ) from exc
