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
        self.frames = Counter(
            "distilscreen_frames_screened",
            "Frames run through the model.",
            registry=r,
        )
        self.decode_duration = Histogram(
            "distilscreen_decode_duration_seconds",
            "Time to decode and resize one video.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "distilscreen_queue_wait_seconds",
            "Time a frame waits before its batch runs.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.inference_duration = Histogram(
            "distilscreen_inference_duration_seconds",
            "Time ONNX Runtime takes for one batch.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "distilscreen_batch_size_frames",
            "Frames per inference batch.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "distilscreen_queue_depth_frames",
            "Frames waiting for a batch.",
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
        self.model = Info(
            "distilscreen_model",
            "The loaded model: name, version, providers, input size.",
            registry=r,
        )
