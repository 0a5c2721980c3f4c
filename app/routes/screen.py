"""POST /v1/screen: upload a video, get per-frame synthetic probabilities."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from app.config import Settings
from app.deps import AdmissionDep, QueryOptionsDep, ScreenerDep, SettingsDep, screen_options
from app.http import error_responses
from app.ingest import FILE_FIELD, receive_within
from app.schemas import ScreenOptions, ScreenResponse

router = APIRouter(prefix="/v1", tags=["screen"])


class Omittable(GenerateJsonSchema):
    """An unset option is left out of the query or form, never sent as null: no null branch or default."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        if schema.get("default") is None:
            return self.generate_inner(schema["schema"])
        return super().default_schema(schema)


_OPTIONS = ScreenOptions.model_json_schema(schema_generator=Omittable)
_BINARY = {"type": "string", "format": "binary"}
UPLOAD_OPENAPI: dict[str, Any] = {
    # One form-exploded object (`?fps=2&max_frames=10`), so that its JSON Schema can hold the
    # every_n / fps exclusion, which separate parameters cannot express.
    "parameters": [{"name": "options", "in": "query", "style": "form", "explode": True, "schema": _OPTIONS}],
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                # without the exclusion: schemathesis 4.32 cannot judge `not` beside a binary part
                "schema": {
                    "type": "object",
                    "required": [FILE_FIELD],
                    "properties": {FILE_FIELD: _BINARY} | _OPTIONS["properties"],
                    "additionalProperties": False,
                    "description": f"the video in the {FILE_FIELD!r} part, options as form fields. "
                    + _OPTIONS["description"],
                }
            },
            "video/*": {"schema": _BINARY},
            "application/octet-stream": {"schema": _BINARY},
        },
    },
}
UPLOAD_ERRORS = error_responses(
    {
        400: "empty or malformed upload",
        413: "upload too large",
        415: "not a video, or an unsupported codec or content type",
        422: "bad options (a heatmap from a model without one too), corrupt, too long or too large a video",
        429: "too many requests being served (with Retry-After)",
        503: "model not ready, or the request deadline passed (with Retry-After)",
    }
)


def document_limits(paths: dict[str, Any], settings: Settings) -> None:
    """Write the configured frame limit into the route's OpenAPI, as max_frames' and frames'
    maximum."""
    operation = paths[f"{router.prefix}/screen"]["post"]
    [query] = operation["parameters"]
    for options in (query["schema"], operation["requestBody"]["content"]["multipart/form-data"]["schema"]):
        for name in ("max_frames", "frames"):
            options["properties"][name]["maximum"] = settings.max_frames


@router.post("/screen", openapi_extra=UPLOAD_OPENAPI, responses=UPLOAD_ERRORS)
async def screen(
    request: Request,
    screener: ScreenerDep,
    settings: SettingsDep,
    admission: AdmissionDep,
    options: QueryOptionsDep,
) -> ScreenResponse:
    """Screen an uploaded video (multipart `file` part, or a raw `video/*` body).

    Options come as query parameters, or as form fields beside the file. The answer has one
    probability per screened frame, a video summary and timings.
    """
    started = time.perf_counter()
    with admission.admit("upload"):
        async with receive_within(request, settings.max_upload_bytes, settings.request_deadline_s) as upload:
            received = time.perf_counter() - started
            # form fields (multipart only) on top of the query's options
            merged = screen_options(options.model_dump(exclude_unset=True) | upload.fields)
            return await screener.screen(upload.file, merged, started, received)
