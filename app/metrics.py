"""Prometheus metrics: one registry per app, names with the `distilscreen_` prefix, base units."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
)

disable_created_metrics()  # `_created` series only clutter the scrape

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
BATCH_BUCKETS = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 128, 256)


@dataclass(frozen=True)
class BatchMetrics:
    """What one batcher records: batch latency and size, items run, queue wait and depth."""

    duration: Histogram
    batch_size: Histogram
    items: Counter
    queue_wait: Histogram
    queue_depth: Gauge

    @classmethod
    def register(
        cls, registry: CollectorRegistry, names: tuple[str, str, str, str, str], what: str, items: str
    ) -> BatchMetrics:
        """The five metrics of the batcher of `what` (e.g. "the model"), whose items are
        `items` (e.g. "frames"), under `names` (duration, batch size, items, queue wait,
        queue depth)."""
        duration, batch_size, counted, wait, depth = names
        return cls(
            Histogram(duration, f"Time ONNX Runtime takes for one batch of {what}.",
                      buckets=LATENCY_BUCKETS, registry=registry),
            Histogram(batch_size, f"{items.capitalize()} per batch of {what}.",
                      buckets=BATCH_BUCKETS, registry=registry),
            Counter(counted, f"{items.capitalize()} run through {what}.", registry=registry),
            Histogram(wait, f"Time {items} wait before their batch of {what} runs.",
                      buckets=LATENCY_BUCKETS, registry=registry),
            Gauge(depth, f"{items.capitalize()} waiting for a batch of {what}.", registry=registry),
        )


@dataclass
class Metrics:
    """Every metric the service exports, registered in its own registry."""

    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "distilscreen_requests",
            "HTTP requests answered, by route and status code.",
            ["route", "method", "status"],
            registry=r,
        )
        self.request_duration = Histogram(
            "distilscreen_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "distilscreen_errors",
            "Requests refused with an error, by stable error code.",
            ["code"],
            registry=r,
        )
        self.decode_duration = Histogram(
            "distilscreen_decode_duration_seconds",
            "Time to decode and resize one video.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.active = Gauge(
            "distilscreen_active_requests", "Uploads and streams being served, by kind.", ["kind"], registry=r
        )
        self.rejected = Counter(
            "distilscreen_rejected_requests", "Requests turned away, by reason.", ["reason"], registry=r
        )
        self.stream_latency = Histogram(
            "distilscreen_stream_frame_latency_seconds",
            "From a stream frame's arrival to its answer.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.stream_frames_skipped = Counter(
            "distilscreen_stream_frames_skipped",
            "Stream frames not decoded: keyframes mode, fps, or skipping on overload.",
            registry=r,
        )
        self.provenance = Counter(
            "distilscreen_provenance_uploads",
            "Uploads answered, by the status of their C2PA content credentials (off: not read).",
            ["status"],
            registry=r,
        )
        self.faces = Counter(
            "distilscreen_faces_detected",
            "Faces found and screened (face models).",
            registry=r,
        )
        self.frames_without_face = Counter(
            "distilscreen_frames_without_face",
            "Screened frames in which no face was found (face models).",
            registry=r,
        )
        self.decoder_deaths = Counter(
            "distilscreen_decoder_deaths",
            "Decoder worker processes that died during a job, by cause (a signal's name, "
            "memory_limit, timeout).",
            ["cause"],
            registry=r,
        )
        self.decoder_workers = Gauge(
            "distilscreen_decoder_workers", "Decoder worker processes, by state (idle, busy).", ["state"],
            registry=r,
        )
        self.classifier_batches = BatchMetrics.register(
            r,
            ("distilscreen_inference_duration_seconds", "distilscreen_batch_size_frames",
             "distilscreen_frames_screened", "distilscreen_queue_wait_seconds",
             "distilscreen_queue_depth_frames"),
            "the model", "frames",  # face crops, for a face model
        )
        self.detector_batches = BatchMetrics.register(
            r,
            ("distilscreen_face_detector_duration_seconds", "distilscreen_face_detector_batch_size_frames",
             "distilscreen_face_detector_frames", "distilscreen_face_detector_queue_wait_seconds",
             "distilscreen_face_detector_queue_depth_frames"),
            "the face detector", "scaled frames",
        )
        self.model = Info(
            "distilscreen_model",
            "The loaded model: name, version, providers, input size.",
            registry=r,
        )
