"""Apps with jobs, submitting a job through a client, and waiting on its status (polls
with timeouts)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.e2e.processes import wait_until
from tests.helpers import configured, running_client

ACTIVE = ("queued", "running")


class Client(Protocol):
    def get(self, url: str, **kwargs: Any) -> Any: ...

    def post(self, url: str, **kwargs: Any) -> Any: ...


@contextmanager
def app_client(settings: Settings, **updates: object) -> Iterator[TestClient]:
    """A running app with `settings` changed by `updates`."""
    yield from running_client(create_app(configured(settings, **updates)))


def submit(client: Client, video: Path | bytes, **params: Any) -> str:
    """POST `video` (a file, or its bytes) as a raw body to /v1/jobs; the new job's id (the
    answer must be 202)."""
    body = video.read_bytes() if isinstance(video, Path) else video
    response = client.post("/v1/jobs", content=body, headers={"content-type": "video/mp4"}, params=params)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def job(client: Client, job_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(client: Client, job_id: str, check: Any, what: str, timeout_s: float = 60) -> dict[str, Any]:
    """Poll the job until `check(job)`; the job then."""
    seen: dict[str, Any] = {}

    def done() -> bool:
        seen.update(job(client, job_id))
        return bool(check(seen))

    wait_until(done, timeout_s, what)
    return seen


def finished(client: Client, job_id: str, timeout_s: float = 60) -> dict[str, Any]:
    return wait_for(client, job_id, lambda j: j["status"] not in ACTIVE, f"job {job_id} to finish", timeout_s)


def running(client: Client, job_id: str, timeout_s: float = 60) -> dict[str, Any]:
    """The job once it runs and has screened some frames."""
    return wait_for(client, job_id, lambda j: j["status"] != "queued" and j["progress"]["frames_done"] > 0,
                    f"job {job_id} to run", timeout_s)
