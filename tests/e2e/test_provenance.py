"""Content credentials through the real service: a signed upload over HTTP to uvicorn."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.app.provenance.signing import Chain, sign
from tests.e2e.processes import Service


def test_a_signed_upload_over_real_http(service: Service, videos: dict[str, Path]) -> None:
    signed = sign(Chain.make(), videos["h264"].read_bytes(), "video/mp4")
    response = httpx.post(f"{service.url}/v1/screen", content=signed,
                          headers={"content-type": "video/mp4"}, timeout=60)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["provenance"]["status"] == "valid" and body["provenance"]["ai_generated"] is True
    assert body["assessment"] == "declared_synthetic" and body["video"]["frames_screened"] == 48
    metrics = httpx.get(f"{service.url}/metrics").text
    assert 'distilscreen_provenance_uploads_total{status="valid"} 1.0' in metrics
