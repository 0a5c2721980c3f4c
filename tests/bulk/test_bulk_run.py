"""`distilscreen bulk` on a local Ray with 2 CPUs: the service's answers for every file,
resumption after a killed run, manifests and file:// URLs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest

from app.bulk.pipeline import BulkJob, run_bulk
from app.schemas import ScreenOptions
from tests.bulk.conftest import BROKEN
from tests.helpers import configured

OPTIONS = {"every_n": 2}


def bulk_job(sources: list[str], out: Path, **kwargs: object) -> BulkJob:
    return BulkJob(sources=sources, out=out, options=ScreenOptions(**OPTIONS), batch_size=8, **kwargs)


def tables(out: Path) -> tuple[list[dict], list[dict]]:
    return pq.read_table(out / "frames").to_pylist(), pq.read_table(out / "videos").to_pylist()


def test_a_folder_gets_the_services_answers_for_every_file(local_ray, corpus, client, settings, tmp_path):
    summary = run_bulk(settings, bulk_job([str(corpus)], tmp_path / "out"))
    frames, videos = tables(tmp_path / "out")

    files = sorted(p for p in corpus.rglob("*") if p.is_file() and not p.name.startswith("."))
    assert sorted(v["video_id"] for v in videos) == [str(p) for p in files]  # each file once
    assert summary.errors == {code: list(BROKEN.values()).count(code) for code in set(BROKEN.values())}
    assert summary.frames == len(frames) and summary.screened == len(files) and summary.skipped == 0
    by_video = {v["video_id"]: v for v in videos}
    for path in files:
        answer = client.post("/v1/screen", params=OPTIONS, content=path.read_bytes(),
                             headers={"content-type": "application/octet-stream"})
        row = by_video[str(path)]
        if answer.status_code != 200:
            assert (row["status"], row["error_code"]) == ("error", answer.json()["error"]["code"]), path.name
            assert not [f for f in frames if f["video_id"] == str(path)]
            continue
        body = answer.json()
        ours = sorted((f for f in frames if f["video_id"] == str(path)), key=lambda f: f["index"])
        assert [(f["index"], f["time_s"]) for f in ours] == [(f["index"], f["time_s"])
                                                             for f in body["frames"]]
        assert [f["p_synthetic"] for f in ours] == pytest.approx([f["p_synthetic"] for f in body["frames"]],
                                                                 abs=1e-6)
        assert row["status"] == "ok" and row["verdict"] == body["summary"]["verdict"]
        assert row["mean_p_synthetic"] == pytest.approx(body["summary"]["mean_p_synthetic"], abs=1e-6)
        assert {k: row[k] for k in body["video"]} == body["video"]
    assert {p.name for p in files if by_video[str(p)]["status"] == "error"} == set(BROKEN)


def test_a_killed_run_resumes_without_duplicates(local_ray, corpus, settings, tmp_path):
    out = tmp_path / "out"
    env = os.environ | {"DISTILSCREEN_MODEL_PATH": str(settings.model_path),
                        "DISTILSCREEN_PROVIDERS": "CPUExecutionProvider",
                        "DISTILSCREEN_INTRA_OP_THREADS": "1"}
    driver = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "bulk", str(corpus), "--out", str(out), "--address", local_ray,
         "--every-n", "2", "--batch-size", "8", "--videos-per-part", "1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while len(list((out / "videos").glob("part-*.parquet"))) < 3:
            assert driver.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "the run wrote no part in time"
            time.sleep(0.05)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    first = len(tables(out)[1])
    summary = run_bulk(settings, bulk_job([str(corpus)], out))
    frames, videos = tables(out)

    assert 3 <= first < len(videos) and summary.skipped == first and summary.screened == len(videos) - first
    assert len({v["video_id"] for v in videos}) == len(videos) == summary.videos
    assert len({(f["video_id"], f["index"]) for f in frames}) == len(frames)
    ok = {v["video_id"]: v["frames_screened"] for v in videos if v["status"] == "ok"}
    assert sorted(ok.items()) == sorted(
        (video, sum(f["video_id"] == video for f in frames)) for video in ok
    )
    again = run_bulk(settings, bulk_job([str(corpus)], out))
    assert (again.skipped, again.screened) == (len(videos), 0)


def test_a_manifest_and_a_file_url(local_ray, corpus, settings, tmp_path):
    manifest = corpus / "labels.csv"
    manifest.write_text("path,label,split\nclip00.mp4,real,test\nmore/deep.mp4,fake,\n"
                        f"{corpus / 'notes.txt'},real,train\n")
    url = (corpus / "vp9-0.webm").as_uri()
    try:
        summary = run_bulk(settings, bulk_job([str(manifest), url], tmp_path / "out"))
    finally:
        manifest.unlink()
    _, videos = tables(tmp_path / "out")

    rows = {Path(v["video_id"]).name: v for v in videos}
    assert set(rows) == {"clip00.mp4", "deep.mp4", "notes.txt", "vp9-0.webm"} and summary.videos == 4
    assert rows["vp9-0.webm"]["video_id"] == str(corpus / "vp9-0.webm")
    assert [(rows[n]["label"], rows[n]["split"]) for n in ("clip00.mp4", "deep.mp4", "vp9-0.webm")] == [
        ("real", "test"), ("fake", None), (None, None)]
    assert rows["notes.txt"]["error_code"] == "not_a_video"
    assert rows["deep.mp4"]["frames_screened"] == 8 and rows["clip00.mp4"]["status"] == "ok"


def test_a_missing_file_is_recorded(local_ray, corpus, settings, tmp_path):
    gone = (corpus / "gone.mp4").as_uri()
    summary = run_bulk(settings, bulk_job([str(corpus / "clip01.mp4"), gone], tmp_path / "out"))
    _, videos = tables(tmp_path / "out")
    assert summary.errors == {"missing_file": 1}
    assert {v["video_id"]: v["status"] for v in videos} == {str(corpus / "clip01.mp4"): "ok",
                                                             str(corpus / "gone.mp4"): "error"}



def test_a_decompression_bomb_costs_its_own_row(local_ray, corpus, settings, tmp_path):
    """Two 8192 x 8192 frames: a decoder worker held to 256 MiB dies (decoder_crashed,
    as the service answers), the decode task's pool replaces it, and the run goes on."""
    bomb = tmp_path / "bomb.mkv"
    black = av.VideoFrame.from_ndarray(np.zeros((8192, 8192, 3), np.uint8), format="rgb24")
    with av.open(str(bomb), "w") as out:
        video = out.add_stream("libx264", rate=24, options={"preset": "ultrafast"})
        video.width = video.height = 8192
        out.mux([packet for picture in (black, black, None) for packet in video.encode(picture)])
    hostile = configured(settings, max_pixels=8192 * 8192, decoder_memory_limit_bytes=256 * 1024**2)
    clips = [str(bomb), str(corpus / "clip02.mp4"), str(corpus / "clip03.mp4")]
    summary = run_bulk(hostile, bulk_job(clips, tmp_path / "out"))
    _, videos = tables(tmp_path / "out")
    assert summary.errors == {"decoder_crashed": 1}
    assert {Path(v["video_id"]).name: v["status"] for v in videos} == {
        "bomb.mkv": "error", "clip02.mp4": "ok", "clip03.mp4": "ok"}
