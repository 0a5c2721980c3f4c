"""Fixtures of the end-to-end tests: the service as a real uvicorn subprocess."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.processes import Service, start_service


@pytest.fixture(scope="module")
def service(model_path: Path) -> Iterator[Service]:
    yield from start_service(
        {"DISTILSCREEN_MODEL_PATH": str(model_path), "DISTILSCREEN_INTRA_OP_THREADS": "1"}
    )
