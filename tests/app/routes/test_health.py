"""Health, readiness, metrics (checked by promtool) and API keys."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.helpers import configured, running_client

KEY = "s3cret-key-value"


def test_ready_only_after_warm_up(settings: Settings) -> None:
    app = create_app(settings)
    with TestClient(app) as client:
        client.portal.call(app.state.ready.wait)
        assert client.get("/readyz").json() == {"status": "ready"}
    # a fresh app whose lifespan has not run is alive but not ready
    with TestClient(create_app(settings)) as cold:
        assert cold.get("/healthz").status_code == 200


def test_not_ready_answers_503_with_retry_after(settings: Settings, videos: dict[str, Path]) -> None:
    app = create_app(configured(settings, warmup_batches=0))
    with TestClient(app) as client:
        client.portal.call(app.state.ready.wait)
        client.portal.call(app.state.ready.clear)
        body = videos["h264"].read_bytes()
        response = client.post("/v1/screen", content=body, headers={"content-type": "video/mp4"})
        assert response.status_code == 503 and response.headers["retry-after"] == "1"
        assert response.json()["error"]["code"] == "not_ready"
        assert client.get("/readyz").status_code == 503


def test_metrics_pass_promtool(client: TestClient, videos: dict[str, Path]) -> None:
    client.post("/v1/screen", content=videos["h264"].read_bytes(), headers={"content-type": "video/mp4"})
    client.post("/v1/screen", content=b"", headers={"content-type": "video/mp4"})
    text = client.get("/metrics").text
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    for line in [
        "distilscreen_frames_screened_total 48.0",
        'distilscreen_requests_total{method="POST",route="/v1/screen",status="200"} 1.0',
        "distilscreen_batch_size_frames_count",
        "distilscreen_queue_wait_seconds_count 48.0",
        "distilscreen_decode_duration_seconds_count 1.0",
        "distilscreen_inference_duration_seconds_count",
        "distilscreen_queue_depth_frames 0.0",
        'distilscreen_model_info{input="64x64",name="test-model",'
        'providers="CPUExecutionProvider",version="1.2.3"} 1.0',
    ]:
        assert line in text


@pytest.fixture
def keyed(settings: Settings) -> Iterator[TestClient]:
    yield from running_client(create_app(configured(settings, api_keys=[KEY, "other-key"])))


def test_api_keys(keyed: TestClient, videos: dict[str, Path]) -> None:
    body, video = videos["h264"].read_bytes(), {"content-type": "video/mp4"}
    for headers in ({}, {"X-API-Key": "wrong"}):
        response = keyed.post("/v1/screen", content=body, headers=video | headers)
        assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
        assert KEY not in response.text
    for route in ("/v1/model", "/v1/model/onnx"):
        assert keyed.get(route).status_code == 401
        assert keyed.get(route, headers={"X-API-Key": KEY}).status_code == 200
    other = video | {"X-API-Key": "other-key"}
    assert keyed.post("/v1/screen", content=body, headers=other).status_code == 200
    for open_route in ("/healthz", "/readyz", "/metrics"):
        assert keyed.get(open_route).status_code == 200
    assert KEY not in keyed.get("/metrics").text
    # keys set: the OpenAPI says the keyed routes need one (no `{}` alternative)
    paths = keyed.get("/openapi.json").json()["paths"]
    for operation in (paths["/v1/model"]["get"], paths["/v1/screen"]["post"]):
        assert operation["security"] == [{"ApiKey": []}]


def test_settings_never_show_keys() -> None:
    settings = Settings(api_keys=[KEY])
    assert KEY not in repr(settings) and KEY not in settings.model_dump_json()
