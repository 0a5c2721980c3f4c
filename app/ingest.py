"""Receive an upload into a temporary file, enforcing the size limit while reading.

Nothing trusts Content-Length: bytes are counted as they arrive. Temporary files are
anonymous (unlinked at creation), so they vanish on close and even if the process dies.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import BinaryIO

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from app.errors import (
    DeadlineExceeded,
    EmptyUpload,
    InvalidOptions,
    MalformedUpload,
    MissingFile,
    UnsupportedMediaType,
    UploadTooLarge,
)

RAW_TYPES = ("video/", "application/octet-stream")
FILE_FIELD = "file"


@dataclass
class Upload:
    """The spooled video, and the form fields that came beside it (multipart only)."""

    file: BinaryIO
    size: int
    fields: dict[str, str] = field(default_factory=dict)


async def _limited(request: Request, limit: int) -> AsyncIterator[bytes]:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise UploadTooLarge(f"upload of {declared} bytes exceeds the limit of {limit} bytes")
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise UploadTooLarge(f"upload exceeds the limit of {limit} bytes")
        yield chunk


@asynccontextmanager
async def receive_upload(request: Request, limit: int) -> AsyncIterator[Upload]:
    """Spool the request's video (raw `video/*` body or multipart `file` part); always cleaned up."""
    content_type = request.headers.get("content-type", "application/octet-stream").lower()
    if content_type.startswith("multipart/form-data"):
        parser = MultiPartParser(request.headers, _limited(request, limit), max_files=1, max_fields=16)
        try:
            form = await parser.parse()
        except MultiPartException as exc:
            raise MalformedUpload(f"malformed multipart body: {exc.message}") from exc
        try:
            part = form.get(FILE_FIELD)
            if not isinstance(part, UploadFile):
                raise MissingFile(f"the multipart body has no file part named {FILE_FIELD!r}")
            given_once([k for k, v in form.multi_items() if isinstance(v, str)], "form fields")
            fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
            yield _checked(Upload(part.file, part.size or 0, fields))
        finally:
            await form.close()
    elif content_type.startswith(RAW_TYPES):
        with tempfile.TemporaryFile() as spool:
            size = 0
            async for chunk in _limited(request, limit):
                spool.write(chunk)
                size += len(chunk)
            spool.seek(0)
            yield _checked(Upload(spool, size))
    else:
        raise UnsupportedMediaType(
            f"content type {content_type!r} is not accepted: send multipart/form-data or video/*"
        )


def given_once(names: list[str], what: str) -> None:
    """Refuse a field or parameter given more than once (422 `invalid_options`): which of
    them counts would be a guess."""
    if repeated := sorted({name for name in names if names.count(name) > 1}):
        raise InvalidOptions(f"{what} given more than once: {', '.join(repeated)}")


@asynccontextmanager
async def receive_within(request: Request, limit: int, deadline_s: float) -> AsyncIterator[Upload]:
    """`receive_upload`, with the request's whole work (receiving, and what the block does
    with the upload) bounded by `deadline_s`: past it, 503 `deadline_exceeded`."""
    try:
        async with asyncio.timeout(deadline_s), receive_upload(request, limit) as upload:
            yield upload
    except TimeoutError as exc:
        raise DeadlineExceeded(f"the request took longer than {deadline_s} s", retry_after_s=1) from exc


def _checked(upload: Upload) -> Upload:
    if upload.size == 0:
        raise EmptyUpload("the upload is empty")
    upload.file.seek(0)
    return upload
