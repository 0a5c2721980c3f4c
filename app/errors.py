"""Domain errors: each names the broken rule and carries a stable, machine-readable code.

Core code raises them; routes turn them into HTTP answers `{"error": {"code", "message"}}`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar


class ScreenError(Exception):
    """An error caused by the request, not by the service."""

    code: ClassVar[str] = "bad_request"
    status: ClassVar[int] = 400

    def __init__(self, message: str, *, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s


class EmptyUpload(ScreenError):
    code = "empty_body"


class MalformedUpload(ScreenError):
    code = "malformed_upload"


class MissingFile(ScreenError):
    code, status = "missing_file", 422


class InvalidOptions(ScreenError):
    code, status = "invalid_options", 422


class UnsupportedMediaType(ScreenError):
    code, status = "unsupported_media_type", 415


class UploadTooLarge(ScreenError):
    code, status = "upload_too_large", 413


class NotAVideo(ScreenError):
    code, status = "not_a_video", 415


class UnsupportedCodec(ScreenError):
    code, status = "unsupported_codec", 415


class NoVideoStream(ScreenError):
    code, status = "no_video_stream", 422


class CorruptVideo(ScreenError):
    code, status = "corrupt_video", 422


class VideoTooLong(ScreenError):
    code, status = "video_too_long", 422


class TooManyPixels(ScreenError):
    code, status = "too_many_pixels", 422


class DecodeTimeout(ScreenError):
    code, status = "decode_timeout", 422


class DecoderCrashed(ScreenError):
    """The decoder worker died on this input (a signal, its memory or CPU limit, a hang)."""

    code, status = "decoder_crashed", 422


class BadFrame(ScreenError):
    code, status = "bad_frame", 422


class HeatmapUnavailable(ScreenError):
    """A heatmap was asked of a model whose card names no attention output."""

    code, status = "heatmap_unavailable", 422


class Overloaded(ScreenError):
    code, status = "overloaded", 429


class DeadlineExceeded(ScreenError):
    code, status = "deadline_exceeded", 503


class Unauthorized(ScreenError):
    code, status = "unauthorized", 401


class NotReady(ScreenError):
    code, status = "not_ready", 503


class JobNotFound(ScreenError):
    """No such job, or one another API key made (the same answer, so ids reveal nothing)."""

    code, status = "job_not_found", 404


class JobNotDone(ScreenError):
    code, status = "job_not_succeeded", 409


class CallbackNotAllowed(ScreenError):
    code, status = "callback_not_allowed", 422


class TooManyJobs(ScreenError):
    code, status = "too_many_jobs", 429


def explain(errors: Iterable[Mapping[str, Any]]) -> str:
    """One line naming each field that failed validation (pydantic's `errors()`) and why."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in errors)
