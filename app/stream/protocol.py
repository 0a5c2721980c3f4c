"""The WebSocket protocol of `/v1/stream`: messages both ways, and close codes.

1. The client opens with a text message `StreamConfig`.
2. It then sends binary messages: one encoded image each (kind `images`), or successive
   chunks of one byte stream (kind `h264`: raw Annex-B; kind `container`: fragmented MP4,
   MPEG-TS, WebM/Matroska...), and finally the text message `{"type": "end"}`.
3. The server answers each screened frame with a `FrameMessage`, in order, as soon as its
   batch is done; a frame that cannot be decoded gets an `ErrorMessage` (fatal=false) and
   the stream goes on. After `end` it sends a `SummaryMessage` and closes with 1000.
4. Overload, by the config's `on_overload`: with `pause` (the default), at most
   `max_in_flight` frames per stream wait for answers; beyond that the server stops
   reading (TCP pushes back on the client), and nothing is dropped. With `skip`, while the
   bytes being decoded have waited longer than DISTILSCREEN_STREAM_MAX_LAG_S since they
   arrived, packets are skipped up to a keyframe that comes in time, and so is a decoded
   frame that waited that long for its turn; each answer carries how many were skipped so
   far, and the summary the total.
5. A fatal error is an `ErrorMessage` (fatal=true) followed by a close with its code in
   `CLOSE_CODES`.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.schemas import FaceScore, Heatmap


class CloseCode(IntEnum):
    """WebSocket close codes the server uses (RFC 6455)."""

    NORMAL = 1000  # the stream ended after `end` and the summary
    GOING_AWAY = 1001  # the server is shutting down
    UNSUPPORTED_DATA = 1003  # binary before the config, or text where binary was expected
    INVALID_PAYLOAD = 1007  # the config (or a text message) is not valid JSON of the protocol
    POLICY_VIOLATION = 1008  # missing or wrong API key; idle for too long
    MESSAGE_TOO_BIG = 1009  # a message over DISTILSCREEN_MAX_STREAM_MESSAGE_BYTES (by uvicorn)
    INTERNAL_ERROR = 1011  # a bug, never bad input
    TRY_AGAIN_LATER = 1013  # overloaded, or the model is not ready


class StreamConfig(BaseModel):
    """The first message: what the stream carries and which frames to screen."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["config"]
    kind: Literal["images", "h264", "container"]
    container_format: str | None = Field(
        None, max_length=32, description="FFmpeg demuxer for `container` (e.g. mpegts, mp4); default: probe"
    )
    every_n: int | None = Field(None, ge=1, description="screen every n-th frame")
    fps: float | None = Field(None, gt=0, le=240, description="screen this many frames per second")
    keyframes: bool = Field(
        False, description="screen the keyframes only; the others are not decoded, and counted as skipped"
    )
    on_overload: Literal["pause", "skip"] = Field(
        "pause", description="pause reading (lossless, latency grows) or skip to keyframes (latency bounded)"
    )
    client_id: str | None = Field(None, max_length=128, description="echoed in the summary")
    heatmap: bool = Field(
        False, description="answer each frame's (each face's) attention map too, as /v1/screen's "
        "heatmap=true; a model without one closes the stream with `heatmap_unavailable`"
    )

    @model_validator(mode="after")
    def _consistent(self) -> StreamConfig:
        if self.every_n is not None and self.fps is not None:
            raise ValueError("give either every_n or fps, not both")
        if self.kind == "images" and self.fps is not None:
            raise ValueError("fps sampling needs timestamps: use it with h264 or container streams")
        if self.keyframes and (self.kind == "images" or self.every_n is not None or self.fps is not None):
            raise ValueError("keyframes is for h264 and container streams, without every_n or fps")
        if self.kind == "images" and self.on_overload == "skip":
            raise ValueError("on_overload skip skips to keyframes: use it with h264 or container streams")
        return self


class EndMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["end"]


ClientText = Annotated[StreamConfig | EndMessage, Field(discriminator="type")]


class FrameMessage(BaseModel):
    type: Literal["frame"] = "frame"
    seq: int = Field(description="0-based number of the screened frame in this stream")
    index: int = Field(description="0-based position among the frames the stream carried")
    time_s: float | None = Field(description="presentation time (byte streams); null for images")
    p_synthetic: float | None = Field(description="null when a face model found no face")
    faces: list[FaceScore] | None = Field(None, description="face models only: the faces screened")
    reason: Literal["no_face"] | None = None
    heatmap: Heatmap | None = Field(None, description="with the config's heatmap (frame models): where the "
                                    "model looks, rows of the grid, values in [0, 1]")
    latency_ms: float = Field(description="from the arrival of the frame's bytes to this answer")
    frames_skipped: int = Field(0, description="frames of the stream not decoded so far (keyframes, skip)")


class ErrorMessage(BaseModel):
    type: Literal["error"] = "error"
    code: str
    message: str
    fatal: bool
    index: int | None = None


# The close code of each fatal error, by its code: the one table of them.
CLOSE_CODES: dict[str, CloseCode] = {
    "binary_before_config": CloseCode.UNSUPPORTED_DATA,
    "unexpected_config": CloseCode.UNSUPPORTED_DATA,
    "bad_json": CloseCode.INVALID_PAYLOAD,
    "invalid_config": CloseCode.INVALID_PAYLOAD,
    "heatmap_unavailable": CloseCode.INVALID_PAYLOAD,
    "corrupt_stream": CloseCode.INVALID_PAYLOAD,
    "decoder_crashed": CloseCode.INVALID_PAYLOAD,
    "unauthorized": CloseCode.POLICY_VIOLATION,
    "idle_timeout": CloseCode.POLICY_VIOLATION,
    "overloaded": CloseCode.TRY_AGAIN_LATER,
    "not_ready": CloseCode.TRY_AGAIN_LATER,
}


class StreamClosed(Exception):
    """The stream must close, after telling the client `error` (fatal), with the close
    code of its error code (`CLOSE_CODES`)."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.code = CLOSE_CODES[error_code]
        self.error = ErrorMessage(code=error_code, message=message, fatal=True)


class SummaryMessage(BaseModel):
    type: Literal["summary"] = "summary"
    client_id: str | None
    frames_received: int = Field(description="frames (images, or decoded stream frames) received")
    frames_screened: int
    frames_skipped: int = Field(0, description="frames not decoded (keyframes, on_overload skip, fps); "
                                "received = screened + skipped + bad + those decoded but passed over")
    bad_frames: int
    frames_with_faces: int | None = Field(None, description="face models only")
    mean_p_synthetic: float | None
    max_p_synthetic: float | None
    threshold: float
    verdict: Literal["authentic", "synthetic", "not_applicable"] | None = Field(
        description="null when no frame was screened; not_applicable when a face model found no face"
    )
    reason: Literal["no_faces"] | None = None
