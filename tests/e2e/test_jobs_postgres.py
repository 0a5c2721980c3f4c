"""Two real uvicorn replicas on one real PostgreSQL server (and one data dir): every job
runs exactly once, whichever replica took it in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.app.jobs.polls import finished, submit
from tests.app.jobs.postgres import fresh_database, postgres_server
from tests.e2e.processes import Service, start_service

serving = contextmanager(start_service)
JOBS = 10


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    with postgres_server() as url:
        yield url


def frames_screened(service: Service) -> float:
    lines = httpx.get(f"{service.url}/metrics").text.splitlines()
    counted = [line for line in lines if line.startswith("distilscreen_frames_screened_total")]
    return sum(float(line.split()[-1]) for line in counted)


def test_two_replicas_run_each_job_exactly_once(
    postgres: str, model_path: Path, tmp_path: Path, videos: dict[str, Path]
) -> None:
    env = {"DISTILSCREEN_MODEL_PATH": str(model_path), "DISTILSCREEN_INTRA_OP_THREADS": "1",
           "DISTILSCREEN_DATABASE_URL": fresh_database(postgres), "DISTILSCREEN_DATA_DIR": str(tmp_path),
           "DISTILSCREEN_MAX_ACTIVE_JOBS": "2", "DISTILSCREEN_JOB_PROGRESS_INTERVAL_S": "0.1"}
    with serving(env) as one, serving(env) as two:
        clients = [httpx.Client(base_url=service.url, timeout=60) for service in (one, two)]
        before = frames_screened(one) + frames_screened(two)
        ids = [submit(clients[i % 2], videos["h264"]) for i in range(JOBS)]
        done = [finished(clients[(i + 1) % 2], job_id) for i, job_id in enumerate(ids)]  # seen by both
        screened = frames_screened(one) + frames_screened(two) - before
        for client in clients:
            client.close()
    assert [(job["status"], job["runs"]) for job in done] == [("succeeded", 1)] * JOBS
    assert screened == JOBS * 48  # every frame of every job once: no job ran twice
    assert not list((tmp_path / "uploads").glob("*.part"))
