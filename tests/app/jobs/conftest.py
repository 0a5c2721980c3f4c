"""Fixtures of the jobs tests: the store on SQLite and on a real PostgreSQL server, an app
with jobs polled quickly, and a video long enough to watch a job run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.jobs.database import make_engine, migrate
from app.jobs.store import JobStore
from app.main import create_app
from tests.app.jobs.postgres import fresh_database, postgres_server
from tests.helpers import configured, encode_video, running_client

LONG_FRAMES = 1200


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A PostgreSQL server for the session; the URL of its `postgres` database."""
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.sqlite3'}"
    return fresh_database(request.getfixturevalue("postgres"))


@pytest.fixture
def store(database_url: str) -> Iterator[JobStore]:
    engine = make_engine(database_url)
    migrate(engine)
    yield JobStore(engine)
    engine.dispose()


@pytest.fixture
def job_settings(settings: Settings, tmp_path: Path) -> Settings:
    """Jobs in the test's own data dir, progress stored (and the queue polled) often."""
    return configured(settings, data_dir=tmp_path / "data", job_progress_interval_s=0.05, max_active_jobs=1)


@pytest.fixture
def jobs_client(job_settings: Settings) -> Iterator[TestClient]:
    yield from running_client(create_app(job_settings))


@pytest.fixture(scope="session")
def long_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1200 small frames: a job of a few seconds, to watch while it runs."""
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    return encode_video(path, frames=LONG_FRAMES, options={"preset": "ultrafast"})
