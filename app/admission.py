"""Admission control: a bound on the uploads and streams served at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from app.errors import Overloaded
from app.metrics import Metrics

Kind = Literal["upload", "stream"]


class Admission:
    """Counts what is being served; past `limit`, new work is refused with 429 at once."""

    def __init__(self, limit: int, metrics: Metrics) -> None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        self.limit = limit
        self.active = 0
        self._metrics = metrics

    @contextmanager
    def admit(self, kind: Kind) -> Iterator[None]:
        if self.active >= self.limit:
            self._metrics.rejected.labels("overloaded").inc()
            raise Overloaded(f"{self.active} requests are being served (limit {self.limit})", retry_after_s=1)
        self.active += 1
        self._metrics.active.labels(kind).inc()
        try:
            yield
        finally:
            self.active -= 1
            self._metrics.active.labels(kind).dec()
