"""Ray workers killed mid-run: a decode task or a predictor call is retried by Ray and the
results are those of an undisturbed run; past its retries, the video is recorded as an
error row and the run goes on."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from app.bulk.pipeline import BulkJob, BulkSummary, run_bulk
from app.config import Settings
from app.schemas import ScreenOptions
from tests.e2e.processes import children, wait_until
from tests.helpers import encode_video

DECODE = "ray::MapBatches(decode_videos)"  # a Ray worker's title while it runs a decode task
PREDICT = "ray::MapWorker(MapBatches(Predictor)).submit"  # ... while a predictor actor runs a batch
POLL_S = 0.001
LIST_S = 0.2


def title(pid: str) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    return ""


@contextlib.contextmanager
def killing(worker_title: str) -> Iterator[dict[int, list[int]]]:
    """SIGKILL the first Ray worker seen with `worker_title` while the block runs; yields
    {its pid: its child processes then}, filled once it is killed."""
    killed: dict[int, list[int]] = {}
    done = threading.Event()

    def watch() -> None:
        workers: list[str] = []
        listed = 0.0
        while not done.is_set():
            if time.monotonic() - listed > LIST_S:  # Ray's workers; then only their titles, often
                workers = [p for p in os.listdir("/proc") if p.isdigit() and title(p).startswith("ray::")]
                listed = time.monotonic()
            for pid in workers:
                if title(pid) == worker_title:
                    with contextlib.suppress(OSError):  # it may end first: watch on
                        decoders = children(int(pid))
                        os.kill(int(pid), signal.SIGKILL)
                        killed[int(pid)] = decoders
                        return
            time.sleep(POLL_S)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield killed
    finally:
        done.set()
        watcher.join()


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Four clips of 120 frames: each decode task and predictor call lasts long enough to be
    caught running."""
    root = tmp_path_factory.mktemp("long")
    return [str(encode_video(root / f"long{i}.mp4", frames=120, seed=50 + i)) for i in range(4)]


def run(settings: Settings, clips: list[str], out: Path, retries: int = 2) -> tuple[BulkSummary, list[dict]]:
    summary = run_bulk(settings, BulkJob(sources=clips, out=out, options=ScreenOptions(every_n=2),
                                         batch_size=8, retries=retries))
    return summary, pq.read_table(out / "videos").to_pylist()


def frames_of(out: Path) -> dict[tuple[str, int], float]:
    return {(f["video_id"], f["index"]): f["p_synthetic"] for f in pq.read_table(out / "frames").to_pylist()}


@pytest.fixture(scope="module")
def undisturbed(local_ray, model_path: Path, clips, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The clips' frames from a run that nothing disturbs."""
    out = tmp_path_factory.mktemp("undisturbed") / "out"
    run(Settings(model_path=model_path, providers=["CPUExecutionProvider"], intra_op_threads=1), clips, out)
    return frames_of(out)


@pytest.mark.parametrize("worker_title", [DECODE, PREDICT], ids=["decode-task", "predictor-call"])
def test_a_killed_worker_is_retried_to_the_same_results(local_ray, settings, clips, undisturbed, tmp_path,
                                                        worker_title):
    with killing(worker_title) as killed:
        summary, videos = run(settings, clips, tmp_path / "out")
    assert killed, f"no {worker_title} was seen running"
    assert summary.errors == {} and [v["status"] for v in videos] == ["ok"] * len(clips)
    assert frames_of(tmp_path / "out") == pytest.approx(undisturbed, abs=1e-6)  # each frame once
    [decoders] = killed.values()
    wait_until(lambda: not any(title(str(p)) for p in decoders), 20, "the killed worker's decoder to end")


def test_a_decode_task_past_its_retries_is_recorded_and_the_run_goes_on(local_ray, settings, clips,
                                                                        tmp_path):
    with killing(DECODE) as killed:
        summary, videos = run(settings, clips, tmp_path / "out", retries=0)
    assert killed
    assert summary.errors == {"internal_error": 1} and summary.screened == len(clips)
    assert sorted(v["status"] for v in videos) == ["error", "ok", "ok", "ok"]
