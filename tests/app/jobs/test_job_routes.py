"""/v1/jobs over the ASGI app: results equal /v1/screen's, progress, cancelling, bad
input, keys, listing, limits and expiry."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from tests.app.jobs.conftest import LONG_FRAMES
from tests.app.jobs.polls import app_client, finished, job, running, submit, wait_for
from tests.app.routes.test_errors import CASES
from tests.e2e.processes import wait_until

VIDEO = {"content-type": "video/mp4"}
COMPARED = ("model", "video", "frames", "summary")


@pytest.mark.parametrize("options", [{}, {"every_n": 4}, {"frames": 5, "start_s": 0.5}])
def test_a_job_answers_what_the_upload_answers(
    jobs_client: TestClient, videos: dict[str, Path], options: dict[str, object]
) -> None:
    job_id = submit(jobs_client, videos["h264"], **options, metadata='{"ticket": 7}')
    done = finished(jobs_client, job_id)
    assert done["status"] == "succeeded", done
    assert done["metadata"] == {"ticket": 7} and done["runs"] == 1 and done["error"] is None
    sync = jobs_client.post("/v1/screen", content=videos["h264"].read_bytes(), headers=VIDEO, params=options)
    assert sync.status_code == 200
    for part in COMPARED:
        assert done["result"][part] == sync.json()[part], part
    frames = len(sync.json()["frames"])
    assert done["progress"] == {"frames_done": frames, "frames_planned": frames}
    result = jobs_client.get(done["links"]["result"]).json()
    assert {part: result[part] for part in COMPARED} == {part: done["result"][part] for part in COMPARED}


def test_multipart_jobs_take_options_and_fields_as_form_fields(
    jobs_client: TestClient, videos: dict[str, Path]
) -> None:
    upload = {"file": ("clip.mp4", videos["h264"].read_bytes(), "video/mp4")}
    response = jobs_client.post("/v1/jobs", files=upload, data={"every_n": "6", "metadata": '{"a": [1, 2]}'})
    assert response.status_code == 202, response.text
    assert response.headers["location"] == response.json()["links"]["self"]
    assert response.json()["status"] == "queued"
    done = finished(jobs_client, response.json()["id"])
    assert [f["index"] for f in done["result"]["frames"]] == list(range(0, 48, 6))
    assert done["metadata"] == {"a": [1, 2]} and done["options"] == {"every_n": 6}


def test_progress_is_stored_as_the_job_runs(jobs_client: TestClient, long_video: Path) -> None:
    job_id = submit(jobs_client, long_video, max_frames=LONG_FRAMES)
    first = running(jobs_client, job_id)["progress"]["frames_done"]
    later = wait_for(jobs_client, job_id, lambda j: j["progress"]["frames_done"] > first, "progress to move")
    assert later["progress"]["frames_planned"] == LONG_FRAMES
    assert later["status"] == "running" or later["progress"]["frames_done"] == LONG_FRAMES
    assert finished(jobs_client, job_id)["progress"]["frames_done"] == LONG_FRAMES


def test_cancelling_a_running_job_stops_it_and_frees_its_slot(
    jobs_client: TestClient, long_video: Path, videos: dict[str, Path], job_settings: Settings
) -> None:
    job_id = submit(jobs_client, long_video, max_frames=LONG_FRAMES)
    running(jobs_client, job_id)
    cancelled = jobs_client.delete(f"/v1/jobs/{job_id}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    # the only slot (max_active_jobs 1) is free again: the next job runs to the end
    assert finished(jobs_client, submit(jobs_client, videos["h264"]))["status"] == "succeeded"
    stopped = job(jobs_client, job_id)
    assert stopped["status"] == "cancelled" and stopped["progress"]["frames_done"] < LONG_FRAMES
    assert jobs_client.get(f"/v1/jobs/{job_id}/result").json()["error"]["code"] == "job_not_succeeded"
    upload = job_settings.data_dir / "uploads" / f"{job_id}.video"
    assert upload.is_file()
    assert jobs_client.delete(f"/v1/jobs/{job_id}").status_code == 204  # a finished job: deleted
    assert not upload.exists()
    assert jobs_client.get(f"/v1/jobs/{job_id}").json()["error"]["code"] == "job_not_found"
    assert jobs_client.delete(f"/v1/jobs/{job_id}").status_code == 404


@pytest.mark.parametrize("case", CASES)
def test_bad_videos_fail_with_the_uploads_codes(
    jobs_client: TestClient, videos: dict[str, Path], case: str
) -> None:
    body, status, code = CASES[case]
    sync = jobs_client.post("/v1/screen", content=body(videos), headers=VIDEO)
    assert (sync.status_code, sync.json()["error"]["code"]) == (status, code)
    submitted = jobs_client.post("/v1/jobs", content=body(videos), headers=VIDEO)
    if submitted.status_code != 202:  # refused at once: the upload, or a container that does not open
        assert (submitted.status_code, submitted.json()["error"]["code"]) == (status, code)
        return
    failed = finished(jobs_client, submitted.json()["id"])  # found while decoding
    assert failed["status"] == "failed" and failed["error"]["code"] == code and failed["error"]["message"]


def test_a_video_that_fails_while_decoding_is_a_failed_job(
    jobs_client: TestClient, videos: dict[str, Path]
) -> None:
    data = videos["h264"].read_bytes()
    # the later frames zeroed, the first ones and the index kept
    start, end = (data.index(b"mdat") + data.index(b"moov")) // 2, data.index(b"moov") - 4
    damaged = data[:start] + bytes(end - start) + data[end:]
    sync = jobs_client.post("/v1/screen", content=damaged, headers=VIDEO)
    assert sync.status_code == 422, sync.text
    failed = finished(jobs_client, submit(jobs_client, damaged))
    assert (failed["status"], failed["error"]["code"]) == ("failed", sync.json()["error"]["code"])


@pytest.mark.parametrize(
    ("request_kwargs", "status", "code"),
    [
        ({"params": {"every_n": 0}}, 422, "invalid_options"),
        ({"params": {"every_n": 2, "fps": 1}}, 422, "invalid_options"),
        ({"params": {"max_frames": 101}}, 422, "invalid_options"),
        ({"params": {"metadata": "[1, 2]"}}, 422, "invalid_options"),
        ({"params": {"metadata": '{"a": "' + "x" * 5000 + '"}'}}, 422, "invalid_options"),
        ({"params": {"unknown": 1}}, 422, "invalid_options"),
        ({"params": {"callback_url": "http://127.0.0.2:9/hook"}}, 422, "callback_not_allowed"),
        ({"headers": {"content-type": "text/plain"}}, 415, "unsupported_media_type"),
        ({"content": b"x" * 200_001}, 413, "upload_too_large"),
    ],
)
def test_bad_submissions_are_refused_with_the_uploads_codes(
    job_settings: Settings, videos: dict[str, Path], request_kwargs: dict, status: int, code: str
) -> None:
    kwargs = {"content": videos["h264"].read_bytes(), "headers": VIDEO} | request_kwargs
    with app_client(job_settings, max_upload_bytes=200_000, max_frames=100) as client:
        for route in ("/v1/screen", "/v1/jobs"):
            if route == "/v1/screen" and code == "callback_not_allowed":
                continue
            response = client.post(route, **kwargs)
            assert (response.status_code, response.json()["error"]["code"]) == (status, code), route
        assert client.get("/v1/jobs").json()["jobs"] == []


def test_a_callback_outside_the_allow_list_is_refused_naming_the_rule(
    job_settings: Settings, videos: dict[str, Path]
) -> None:
    cases = {(): "http://127.0.0.1:9/hook", ("127.0.0.1",): "http://127.0.0.3:9/hook"}
    for allowed, url in cases.items():
        with app_client(job_settings, webhook_allowed_hosts=list(allowed), webhook_secret="s") as client:
            response = client.post("/v1/jobs", content=videos["h264"].read_bytes(), headers=VIDEO,
                                   params={"callback_url": url})
            assert response.status_code == 422, response.text
            assert response.json()["error"]["code"] == "callback_not_allowed"
            assert "DISTILSCREEN_WEBHOOK_ALLOWED_HOSTS" in response.json()["error"]["message"]
            scheme = client.post("/v1/jobs", content=videos["h264"].read_bytes(), headers=VIDEO,
                                 params={"callback_url": "ftp://127.0.0.1/x"})
            assert scheme.json()["error"]["code"] == "invalid_options"


def test_another_keys_job_is_not_found(job_settings: Settings, videos: dict[str, Path]) -> None:
    with app_client(job_settings, api_keys=["key-a", "key-b"]) as client:
        a, b = {"X-API-Key": "key-a"}, {"X-API-Key": "key-b"}
        client.headers.update(a)
        job_id = submit(client, videos["h264"])
        assert finished(client, job_id)["status"] == "succeeded"
        client.headers.update(b)
        for method, path in (("get", ""), ("get", "/result"), ("delete", "")):
            response = client.request(method.upper(), f"/v1/jobs/{job_id}{path}")
            assert (response.status_code, response.json()["error"]["code"]) == (404, "job_not_found")
        assert client.get("/v1/jobs").json()["jobs"] == []
        del client.headers["X-API-Key"]
        assert client.get(f"/v1/jobs/{job_id}").status_code == 401
        client.headers.update(a)
        assert [j["id"] for j in client.get("/v1/jobs").json()["jobs"]] == [job_id]


def test_listing_pages_filters_and_refuses_bad_queries(
    jobs_client: TestClient, videos: dict[str, Path]
) -> None:
    ids = [submit(jobs_client, videos["h264"], max_frames=2) for _ in range(3)]
    for job_id in ids:
        finished(jobs_client, job_id)
    jobs_client.delete(f"/v1/jobs/{ids[0]}")  # gone from the list
    seen, params = [], {"limit": 1}
    while True:
        page = jobs_client.get("/v1/jobs", params=params).json()
        seen += [j["id"] for j in page["jobs"]]
        assert all(j["result"] is None for j in page["jobs"])
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == ids[:0:-1]
    assert len(jobs_client.get("/v1/jobs", params={"status": "succeeded"}).json()["jobs"]) == 2
    assert jobs_client.get("/v1/jobs", params={"status": "queued"}).json()["jobs"] == []
    assert jobs_client.get("/v1/jobs", params={"since": "2999-01-01T00:00:00"}).json()["jobs"] == []
    for bad in ({"status": "done"}, {"limit": 0}, {"limit": 101}, {"cursor": "abc"}, {"since": "yesterday"}):
        response = jobs_client.get("/v1/jobs", params=bad)
        assert (response.status_code, response.json()["error"]["code"]) == (422, "invalid_options"), bad
    assert jobs_client.get("/v1/jobs/not-an-id").json()["error"]["code"] == "invalid_options"


def test_a_full_queue_refuses_with_429(
    job_settings: Settings, videos: dict[str, Path], long_video: Path
) -> None:
    with app_client(job_settings, max_queued_jobs=1) as client:
        first = submit(client, long_video, max_frames=LONG_FRAMES)
        running(client, first)
        submit(client, videos["h264"])  # waits: the only slot is taken
        refused = client.post("/v1/jobs", content=videos["h264"].read_bytes(), headers=VIDEO)
        assert (refused.status_code, refused.json()["error"]["code"]) == (429, "too_many_jobs")
        assert refused.headers["retry-after"]
        client.delete(f"/v1/jobs/{first}")


def test_expired_jobs_are_deleted_with_their_files(job_settings: Settings, videos: dict[str, Path]) -> None:
    with app_client(job_settings, job_retention_s=0.5) as client:
        job_id = submit(client, videos["h264"])
        upload = job_settings.data_dir / "uploads" / f"{job_id}.video"
        assert upload.is_file()
        wait_until(lambda: client.get(f"/v1/jobs/{job_id}").status_code == 404, 30, "the job to expire")
        assert not upload.exists()


def test_a_job_whose_upload_is_missing_fails_saying_so(jobs_client: TestClient) -> None:
    # a replica that does not share the data dir of the one that took the upload
    store = jobs_client.app.state.jobs.store
    job = store.create(uuid.uuid4().hex, None, {}, None, None, "gone.video", 1, 0.0, time.time())
    failed = finished(jobs_client, job.id)
    assert failed["status"] == "failed" and failed["error"]["code"] == "upload_missing"
    assert "DISTILSCREEN_DATA_DIR" in failed["error"]["message"]
