"""POST /v1/screen with real content credentials: the `provenance` object and `assessment`
beside an unchanged screening, error codes kept, the metrics and the schema."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.helpers import configured, running_client

FRAMES = 48  # the session's h264 clip
Start = Callable[..., TestClient]


def post(client: TestClient, data: bytes) -> dict:
    response = client.post("/v1/screen", content=data, headers={"content-type": "video/mp4"})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def client_with(settings: Settings) -> Iterator[Start]:
    """Start the app with some settings changed: client_with(c2pa=False)."""
    stack: list[Iterator[TestClient]] = []

    def start(**updates: object) -> TestClient:
        stack.append(running_client(create_app(configured(settings, **updates))))
        return next(stack[-1])

    yield start
    for running in stack:
        next(running, None)


def test_declared_ai_generation_is_reported_beside_the_detectors_score(
    client: TestClient, signed: dict[str, bytes]
) -> None:
    body = post(client, signed["generated"])
    provenance = body["provenance"]
    assert provenance["status"] == "valid" and provenance["trusted"] is False
    assert "signingCredential.untrusted" in provenance["failures"]
    assert provenance["ai_generated"] is True
    assert provenance["digital_source_type"]["name"] == "trainedAlgorithmicMedia"
    assert body["assessment"] == "declared_synthetic"
    assert body["video"]["frames_screened"] == FRAMES
    assert body["summary"]["verdict"] in ("authentic", "synthetic")  # the detector's own


def test_the_root_as_trust_anchor_makes_the_signer_trusted(
    client_with: Start, signed: dict[str, bytes], anchors: Path
) -> None:
    body = post(client_with(c2pa_trust_anchors=anchors), signed["generated"])
    assert body["provenance"]["status"] == "trusted" and body["provenance"]["trusted"] is True
    assert body["provenance"]["failures"] == []
    assert body["assessment"] == "declared_synthetic"


def test_an_unsigned_clip_has_none_and_an_otherwise_unchanged_answer(
    client: TestClient, client_with: Start, signed: dict[str, bytes]
) -> None:
    on = post(client, signed["unsigned"])
    off = post(client_with(c2pa=False), signed["unsigned"])
    assert on["provenance"]["status"] == "none" and off["provenance"] is None
    assert on["assessment"] == off["assessment"] == on["summary"]["verdict"]
    for part in ("model", "video", "frames", "summary"):
        assert on[part] == off[part], part


def test_tampered_media_is_screened_and_assessed_tampered(
    client: TestClient, signed: dict[str, bytes]
) -> None:
    body = post(client, signed["tampered"])
    assert body["provenance"]["status"] == "invalid"
    assert "assertion.bmffHash.mismatch" in body["provenance"]["failures"]
    assert body["assessment"] == "tampered"
    assert body["video"]["frames_screened"] == FRAMES and len(body["frames"]) == FRAMES


def test_a_remote_manifest_is_not_fetched_and_screening_goes_on(
    client: TestClient, signed: dict[str, bytes]
) -> None:
    body = post(client, signed["remote"])
    assert body["provenance"]["status"] == "unreadable"
    assert body["provenance"]["remote_url"] == "https://credentials.example/clip.c2pa"
    assert body["assessment"] == body["summary"]["verdict"]


@pytest.mark.parametrize(("kind", "status", "code"), [
    ("truncated", 422, "corrupt_video"),
    ("garbage", 415, "not_a_video"),
    ("jpeg", 415, "not_a_video"),
    ("empty", 400, "empty_body"),
])
def test_screening_errors_keep_their_codes(
    client: TestClient, signed: dict[str, bytes], kind: str, status: int, code: str
) -> None:
    data = signed | {"garbage": bytes(range(256)) * 64, "empty": b""}
    response = client.post("/v1/screen", content=data[kind], headers={"content-type": "video/mp4"})
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


def test_a_multipart_upload_and_in_process_decoding_read_the_same_credentials(
    client_with: Start, signed: dict[str, bytes]
) -> None:
    """The spooled multipart part, and the decoder reading the very file object in the
    service's thread: the credentials are read through their own view, beside it."""
    client = client_with(decode_workers=0)
    response = client.post("/v1/screen", files={"file": ("clip.mp4", signed["generated"], "video/mp4")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["provenance"]["status"] == "valid" and body["video"]["frames_screened"] == FRAMES


def test_uploads_are_counted_by_provenance_status(client: TestClient, signed: dict[str, bytes]) -> None:
    for kind in ("generated", "generated", "unsigned", "tampered"):
        post(client, signed[kind])
    metrics = client.get("/metrics").text
    for status, count in (("valid", 2), ("none", 1), ("invalid", 1)):
        assert f'distilscreen_provenance_uploads_total{{status="{status}"}} {count:.1f}' in metrics


def test_the_openapi_schema_describes_provenance(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    answer = schemas["ScreenResponse"]
    assert "assessment" in answer["required"]
    assert set(answer["properties"]["assessment"]["enum"]) == {
        "declared_synthetic", "tampered", "authentic", "synthetic", "not_applicable"}
    provenance = schemas["Provenance"]
    statuses = {"none", "valid", "trusted", "invalid", "unreadable"}
    assert set(provenance["properties"]["status"]["enum"]) == statuses
    assert {"signer", "digital_source_type", "ai_generated", "remote_url"} <= set(provenance["properties"])
