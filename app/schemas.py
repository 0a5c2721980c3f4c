"""Request options and response bodies of the HTTP API (they are the OpenAPI schema)."""

from __future__ import annotations

from itertools import combinations
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.contract.card import ModelCard
from app.provenance.models import Assessment, Provenance

_COUNTED = ("every_n", "fps", "frames")  # the options that say how many frames, one at most


class ScreenOptions(BaseModel):
    """Which frames to screen (default: every frame, up to DISTILSCREEN_DEFAULT_MAX_FRAMES),
    and whether to answer where the model looks in them (`heatmap`).

    `every_n`, `fps`, `frames` and `keyframes` exclude each other; `end_s` must be greater
    than `start_s`; `max_frames` and `frames` are at most DISTILSCREEN_MAX_FRAMES. A broken
    rule is 422 `invalid_options`.
    """

    # the exclusions as JSON Schema (the end_s > start_s rule has no JSON Schema form)
    model_config = ConfigDict(extra="forbid", json_schema_extra={"allOf": [
        *({"not": {"required": list(pair)}} for pair in combinations(_COUNTED, 2)),
        *({"not": {"required": [other, "keyframes"], "properties": {"keyframes": {"const": True}}}}
          for other in _COUNTED),
    ]})

    every_n: int | None = Field(None, ge=1, description="screen every n-th decoded frame (not with fps)")
    fps: float | None = Field(
        None, gt=0, le=240, description="screen the first frame of each 1/fps slot, seeking past what it "
        "skips (not with every_n, frames, keyframes)"
    )
    frames: int | None = Field(
        None, ge=1, description="screen this many frames, spread evenly over the range: the first frame at "
        "or after each of as many evenly spaced times, reached by seeking (not with every_n, fps, keyframes)"
    )
    keyframes: bool = Field(
        False, description="screen the keyframes only, the others not even decoded: the fastest triage "
        "(not with every_n, fps or frames)"
    )
    max_frames: int | None = Field(
        None, ge=1, description="stop after this many screened frames (at most DISTILSCREEN_MAX_FRAMES)"
    )
    start_s: float = Field(0.0, ge=0, description="skip frames before this time (seconds; seeks)")
    end_s: float | None = Field(None, gt=0, description="stop at this time (seconds; greater than start_s)")
    heatmap: bool = Field(
        False, description="answer where the model looks too: each frame's (each face's) attention map, "
        "a grid of the model's feature map (5 x 5 for a 160 px student) of values in [0, 1]; 422 "
        "`heatmap_unavailable` from a model without an attention output"
    )

    @model_validator(mode="after")
    def _consistent(self) -> ScreenOptions:
        given = [name for name in _COUNTED if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of every_n, fps and frames, not {' and '.join(given)}")
        if self.keyframes and given:
            raise ValueError(f"keyframes screens every keyframe: give it without {given[0]}")
        if self.end_s is not None and self.end_s <= self.start_s:
            raise ValueError(f"end_s ({self.end_s}) must be greater than start_s ({self.start_s})")
        return self


class ModelRef(BaseModel):
    name: str
    version: str


class VideoFacts(BaseModel):
    container: str
    codec: str
    width: int
    height: int
    fps: float | None
    duration_s: float | None
    declared_frames: int | None = Field(description="frame count the container declares, if any")
    frames_decoded: int = Field(description="frames the decoder produced, sampled or not")
    frames_screened: int = Field(description="frames run through the model")


Heatmap = list[list[Annotated[float, Field(ge=0, le=1)]]]


class FaceScore(BaseModel):
    box: tuple[float, float, float, float] = Field(description="x1, y1, x2, y2 in source pixels")
    score: float = Field(ge=0, le=1, description="the face detector's confidence")
    p_synthetic: float = Field(ge=0, le=1, description="calibrated probability the face is synthetic")
    heatmap: Heatmap | None = Field(
        None, description="with heatmap=true: where the model looks in the face's crop, rows of the grid "
        "top to bottom, each left to right, in [0, 1] (1: the most attended cell)"
    )
    heatmap_box: tuple[float, float, float, float] | None = Field(
        None, description="with heatmap=true: the crop's region that the heatmap covers, x1, y1, x2, y2 in "
        "source pixels (the box made square and widened by the card's margin; it may pass the frame's edges)"
    )


class FrameScore(BaseModel):
    index: int = Field(description="0-based position of the frame in the video")
    time_s: float = Field(description="presentation time of the frame")
    p_synthetic: float | None = Field(
        ge=0, le=1,
        description="calibrated probability the frame is synthetic (face models: its faces' combine); "
        "null when a face model found no face",
    )
    faces: list[FaceScore] | None = Field(None, description="face models only: the faces screened")
    reason: Literal["no_face"] | None = Field(None, description="why p_synthetic is null")
    heatmap: Heatmap | None = Field(
        None, description="with heatmap=true (frame models; face models have one per face): where the "
        "model looks in the frame, rows of the grid top to bottom, each left to right, in [0, 1] (1: the "
        "most attended cell)"
    )


class Summary(BaseModel):
    """Video-level verdict: `synthetic` when mean p_synthetic >= threshold (the card's), over
    the frames that have one; `not_applicable` (reason `no_faces`) when a face model found
    no face in any screened frame."""

    mean_p_synthetic: float | None
    max_p_synthetic: float | None
    fraction_above_threshold: float | None
    threshold: float
    verdict: Literal["authentic", "synthetic", "not_applicable"]
    reason: Literal["no_faces"] | None = None
    frames_with_faces: int | None = Field(None, description="face models only: frames with a face")


class Timings(BaseModel):
    """Seconds spent, and the resulting throughput."""

    upload_s: float = Field(description="receiving and spooling the upload")
    decode_s: float = Field(description="decoding and resizing, excluding waits for the batcher")
    queue_s: float = Field(description="mean time a frame waited for its batch")
    inference_s: float = Field(description="ONNX Runtime time of the batches that held these frames")
    detect_s: float | None = Field(
        None, description="face models only: ONNX Runtime time of the detector batches that held them"
    )
    total_s: float = Field(description="from the first byte received to the answer")
    frames_per_s: float = Field(description="frames_screened / total_s")


class ScreenResponse(BaseModel):
    model: ModelRef
    video: VideoFacts
    frames: list[FrameScore]
    summary: Summary
    timings: Timings
    provenance: Provenance | None = Field(
        None, description="the upload's C2PA content credentials; null when DISTILSCREEN_C2PA is off"
    )
    assessment: Assessment = Field(
        description="declared_synthetic when provenance that verifies (valid, trusted) declares AI-generated "
        "media; tampered when a manifest fails its hash checks; otherwise the summary's verdict"
    )


class ModelInfo(BaseModel):
    """The loaded model: its card and the execution providers really in use."""

    card: ModelCard
    providers: list[str]


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, machine-readable error code")
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail
