"""Jobs across restarts of a real uvicorn process on the embedded SQLite database: a
killed service loses no job, a stopped one hands its running job back at once."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from app.jobs.database import SQLITE_FILE, make_engine
from app.jobs.store import Job, JobStore
from tests.app.jobs.conftest import LONG_FRAMES
from tests.app.jobs.polls import finished, running, submit
from tests.e2e.processes import Service, start_service, wait_until
from tests.helpers import encode_video

serving = contextmanager(start_service)


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return encode_video(tmp_path_factory.mktemp("long") / "long.mp4", frames=LONG_FRAMES,
                        options={"preset": "ultrafast"})


def stored(data_dir: Path, job_id: str) -> Job:
    """The job as the database holds it, read while no service runs."""
    engine = make_engine(f"sqlite:///{data_dir / SQLITE_FILE}")
    try:
        return JobStore(engine).get(job_id, None)
    finally:
        engine.dispose()


@contextmanager
def client_of(service: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.url, timeout=60) as client:
        yield client


def stop_mid_job(env: dict[str, str], clip: Path, how: signal.Signals) -> str:
    """Start the service, submit `clip`, and stop the service with `how` once the job runs."""
    with serving(env) as service, client_of(service) as client:
        job_id = submit(client, clip, max_frames=LONG_FRAMES)
        running(client, job_id)
        workers = service.children()
        service.process.send_signal(how)
        service.process.wait(timeout=60)
    # its decoder workers do not outlive it
    wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), 30,
               "its decoder workers to exit")
    return job_id


def test_a_restart_mid_job_loses_no_job(model_path: Path, tmp_path: Path, long_clip: Path,
                                        videos: dict[str, Path]) -> None:
    data = tmp_path / "data"
    env = {"DISTILSCREEN_MODEL_PATH": str(model_path), "DISTILSCREEN_INTRA_OP_THREADS": "1",
           "DISTILSCREEN_DATA_DIR": str(data), "DISTILSCREEN_MAX_ACTIVE_JOBS": "1",
           "DISTILSCREEN_JOB_LEASE_S": "2", "DISTILSCREEN_JOB_PROGRESS_INTERVAL_S": "0.1"}
    killed = stop_mid_job(env, long_clip, signal.SIGKILL)
    assert stored(data, killed).status == "running"  # still claimed: its lease runs out
    stopped = stop_mid_job(env, long_clip, signal.SIGTERM)
    assert stored(data, stopped).status == "queued"  # handed back as it stopped
    with serving(env) as service, client_of(service) as client:
        later = submit(client, videos["h264"])
        done = {job_id: finished(client, job_id) for job_id in (killed, stopped, later)}
    for job_id, runs in ((killed, 2), (stopped, 2), (later, 1)):
        assert done[job_id]["status"] == "succeeded" and done[job_id]["runs"] == runs, done[job_id]
    assert done[killed]["progress"]["frames_done"] == LONG_FRAMES
    assert len(done[stopped]["result"]["frames"]) == LONG_FRAMES
