"""Service settings: one validated object, read from `DISTILSCREEN_*` environment variables."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.faces.plan import DEFAULT_MAX_SIDE
from app.faces.registry import DETECTORS_DIR
from app.shipped import MODELS_DIR, STUDENT

DEFAULT_MODEL = MODELS_DIR / STUDENT
# XDG's data home: jobs outlive the process, so not a temporary directory
DEFAULT_DATA_DIR = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "distilscreen"
KNOWN_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
VIDEO_CODECS = (
    "h264",
    "hevc",
    "vp8",
    "vp9",
    "av1",
    "mpeg4",
    "mpeg2video",
    "mpeg1video",
    "mjpeg",
    "prores",
    "theora",
    "vc1",
    "wmv3",
    "h263",
    "dnxhd",
    "ffv1",
    "gif",  # platforms receive animated GIFs as video
)


def _split_commas(value: Any) -> Any:
    """Let list settings be given as `a,b,c` in the environment (JSON lists work too)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


CommaList = Annotated[list[str], NoDecode, BeforeValidator(_split_commas)]
SecretList = Annotated[list[SecretStr], NoDecode, BeforeValidator(_split_commas)]


class Settings(BaseSettings):
    """Everything the service can be told; each field is `DISTILSCREEN_<NAME>` in the env."""

    model_config = SettingsConfigDict(env_prefix="DISTILSCREEN_", env_file=None, extra="ignore")

    # Model and engine
    model_path: Path = Field(DEFAULT_MODEL, description="ONNX student with a distilscreen card")
    providers: CommaList = Field(
        list(KNOWN_PROVIDERS),
        description="ONNX Runtime providers in order of preference; unavailable ones are skipped",
    )
    intra_op_threads: int = Field(0, ge=0, description="ORT intra-op threads (0: ORT decides)")
    ort_spinning: bool = Field(
        False, description="let ORT's intra-op threads spin between runs (off: decoding needs the cores)"
    )
    warmup_batches: int = Field(2, ge=0, description="batches run at start before /readyz is ready")
    trt_cache_dir: Path | None = Field(None, description="TensorRT engine cache directory")

    # Batching
    max_batch_size: int = Field(32, ge=1, le=1024, description="frames per inference batch")
    max_wait_ms: float = Field(5.0, ge=0, le=1000, description="how long a batch waits to fill")
    max_queued_frames: int = Field(256, ge=1, description="frames waiting for a batch, all clients")

    # Face models (a card with `crop: face`)
    detectors_dir: Path = Field(DETECTORS_DIR, description="folder of the face detectors' ONNX files")
    face_detector_batch_size: int = Field(8, ge=1, le=256, description="scaled frames per detector batch")
    face_detector_max_side: int = Field(
        DEFAULT_MAX_SIDE, ge=192, le=4096,
        description="longest side the detector runs at (small faces in large frames)",
    )
    max_face_frames_in_flight: int = Field(
        32, ge=1, description="frames, all clients, between decoding and their answer (decoders wait beyond)"
    )

    # Admission and streams
    max_active_requests: int = Field(64, ge=1, description="uploads and streams served at once; beyond: 429")
    request_deadline_s: float = Field(300.0, gt=0, description="time limit of one upload request")
    max_stream_in_flight: int = Field(16, ge=1, description="frames of one stream awaiting answers")
    max_stream_message_bytes: int = Field(16 * 1024 * 1024, ge=1024, description="largest WebSocket message")
    stream_idle_timeout_s: float = Field(30.0, gt=0, description="close a stream silent this long")
    stream_max_lag_s: float = Field(
        0.1, gt=0, description="with `on_overload: skip`, skip what has waited this long since its bytes came"
    )
    shutdown_timeout_s: float = Field(30.0, ge=0, description="grace for in-flight work on SIGTERM")

    # Decoding
    decode_threads: int = Field(0, ge=0, description="FFmpeg decoder threads (0: auto)")
    decode_timeout_s: float = Field(120.0, gt=0, description="limit on the time spent decoding one video")
    decode_workers: int = Field(
        4, ge=0, description="decoder worker processes kept running (more start when all are busy, "
        "and stay a minute after); 0: decode in the service process, without isolation"
    )
    decoder_memory_limit_bytes: int = Field(
        2 * 1024**3, ge=256 * 1024**2, description="address space of one decoder worker (RLIMIT_AS)"
    )
    decoder_cpu_limit_s: int = Field(
        300, ge=1, description="CPU seconds one upload's decoding may use (RLIMIT_CPU); "
        "a stream gets them anew with each frame"
    )

    # Content credentials (C2PA) of uploads
    c2pa: bool = Field(True, description="read uploads' C2PA content credentials beside screening them")
    c2pa_trust_anchors: Path | None = Field(
        None, description="PEM file of the CA certificates that C2PA signers may chain to; none: none trusted"
    )

    # Limits on input
    max_upload_bytes: int = Field(512 * 1024 * 1024, ge=1, description="largest upload accepted")
    max_duration_s: float = Field(3600.0, gt=0, description="longest video accepted")
    max_pixels: int = Field(3840 * 2160, ge=1, description="largest width x height accepted")
    max_frames: int = Field(10_000, ge=1, description="most frames one request may ask to screen")
    default_max_frames: int = Field(1000, ge=1, description="frames screened when max_frames is not given")
    allowed_codecs: CommaList = Field(list(VIDEO_CODECS), description="video codecs accepted")

    # Security
    api_keys: SecretList = Field(
        default_factory=list,
        description="accepted API keys (header X-API-Key); empty: no authentication",
    )

    # Jobs (POST /v1/jobs) and their webhooks
    data_dir: Path = Field(
        DEFAULT_DATA_DIR, description="where jobs' uploads (and the default SQLite database) are kept"
    )
    database_url: SecretStr | None = Field(
        None, description="SQLAlchemy URL of the jobs database (postgresql+psycopg://...); "
        "empty: SQLite in the data dir"
    )
    max_active_jobs: int = Field(4, ge=1, description="jobs this replica screens at once (uploads apart)")
    max_queued_jobs: int = Field(1000, ge=1, description="jobs waiting, all replicas; beyond: 429")
    job_lease_s: float = Field(
        30.0, gt=0, description="a running job whose replica stops renewing it this long is run again"
    )
    job_progress_interval_s: float = Field(
        1.0, gt=0, description="how often a running job stores its progress (and renews its lease)"
    )
    job_retention_s: float = Field(
        7 * 24 * 3600.0, gt=0, description="finished jobs, their results and files are deleted after this"
    )
    webhook_allowed_hosts: CommaList = Field(
        default_factory=list, description="hosts a callback_url may name; empty: callbacks are refused"
    )
    webhook_secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key of webhook signatures (required with allowed hosts)"
    )
    webhook_max_attempts: int = Field(5, ge=1, le=50, description="deliveries tried before giving up")
    webhook_backoff_s: float = Field(
        2.0, gt=0, description="wait before the first retry; doubled after each failed attempt"
    )
    webhook_timeout_s: float = Field(10.0, gt=0, description="time limit of one webhook delivery")

    # Server
    host: str = Field("127.0.0.1", description="address `distilscreen serve` binds")
    port: int = Field(8000, ge=1, le=65535, description="port `distilscreen serve` binds")
    log_level: str = Field("info", description="uvicorn and app log level")

    @field_validator("providers")
    @classmethod
    def _known_providers(cls, value: list[str]) -> list[str]:
        unknown = [p for p in value if p not in KNOWN_PROVIDERS]
        if unknown or not value:
            raise ValueError(f"providers must be a non-empty subset of {KNOWN_PROVIDERS}, got {value}")
        return value

    @model_validator(mode="after")
    def _webhooks_are_signed(self) -> Settings:
        if self.webhook_allowed_hosts and self.webhook_secret is None:
            raise ValueError("webhook_allowed_hosts needs webhook_secret: every webhook is signed")
        return self
