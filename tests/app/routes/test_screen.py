"""POST /v1/screen over the ASGI app: answers, options, and parity with a direct ORT run."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from tests.helpers import MODEL_SIZE, direct_probabilities


def independent_probabilities(video: Path, model: Path, every_n: int = 1) -> np.ndarray:
    """Decode with plain PyAV and run plain ONNX Runtime, sharing no code with the service."""
    with av.open(str(video)) as container:
        frames = [
            f.to_ndarray(width=MODEL_SIZE, height=MODEL_SIZE, format="rgb24")
            for i, f in enumerate(container.decode(video=0))
            if i % every_n == 0
        ]
    return direct_probabilities(frames, model)


@pytest.mark.parametrize("kind", ["h264", "vp9", "mpeg4"])
def test_raw_upload_matches_a_direct_onnx_runtime_run(
    client: TestClient, videos: dict[str, Path], model_path: Path, kind: str
) -> None:
    response = client.post(
        "/v1/screen", content=videos[kind].read_bytes(), headers={"content-type": "video/mp4"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == {"name": "test-model", "version": "1.2.3"}
    assert body["video"]["frames_decoded"] == 48 and body["video"]["frames_screened"] == 48
    probs = [f["p_synthetic"] for f in body["frames"]]
    np.testing.assert_allclose(probs, independent_probabilities(videos[kind], model_path), atol=1e-6)
    summary = body["summary"]
    assert summary["mean_p_synthetic"] == pytest.approx(np.mean(probs))
    assert summary["max_p_synthetic"] == pytest.approx(max(probs))
    assert summary["verdict"] == ("synthetic" if np.mean(probs) >= summary["threshold"] else "authentic")
    timings = body["timings"]
    assert 0 < timings["decode_s"] <= timings["total_s"]
    assert timings["frames_per_s"] == pytest.approx(48 / timings["total_s"])


def test_multipart_with_form_options(client: TestClient, videos: dict[str, Path], model_path: Path) -> None:
    response = client.post(
        "/v1/screen",
        files={"file": ("clip.mp4", videos["h264"].read_bytes(), "video/mp4")},
        data={"every_n": "5"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [f["index"] for f in body["frames"]] == list(range(0, 48, 5))
    np.testing.assert_allclose(
        [f["p_synthetic"] for f in body["frames"]],
        independent_probabilities(videos["h264"], model_path, every_n=5),
        atol=1e-6,
    )


def test_query_options(client: TestClient, videos: dict[str, Path]) -> None:
    response = client.post(
        "/v1/screen?fps=2&max_frames=3&start_s=0.5",
        content=videos["h264"].read_bytes(),
        headers={"content-type": "application/octet-stream"},
    )
    assert response.status_code == 200, response.text
    assert [f["index"] for f in response.json()["frames"]] == [12, 24, 36]


@pytest.mark.parametrize(
    ("query", "frames", "gop", "indices", "decoded"),
    [("keyframes=true", 48, 12, [0, 12, 24, 36], 4), ("frames=4", 96, 24, [0, 24, 48, 72], None)],
)
def test_keyframes_and_spread_frames(
    client: TestClient, make_video, query: str, frames: int, gop: int, indices: list[int], decoded: int | None
) -> None:
    clip = make_video("gop.mp4", frames=frames, options={"g": str(gop), "keyint_min": str(gop)})
    response = client.post(f"/v1/screen?{query}", content=clip.read_bytes(),
                           headers={"content-type": "video/mp4"})
    assert response.status_code == 200, response.text
    assert [f["index"] for f in response.json()["frames"]] == indices
    video = response.json()["video"]
    assert video["frames_screened"] == len(indices)
    if decoded is not None:  # the other frames were not decoded
        assert video["frames_decoded"] == decoded


def test_openapi_documents_the_answer_and_both_body_kinds(client: TestClient, settings: Settings) -> None:
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/v1/screen"]["post"]
    assert {"multipart/form-data", "video/*"} <= set(operation["requestBody"]["content"])
    # the options: one form-exploded object, so that its schema can say "not every_n and fps"
    [options] = operation["parameters"]
    assert (options["in"], options["style"], options["explode"]) == ("query", "form", True)
    assert set(options["schema"]["properties"]) == {"every_n", "fps", "frames", "keyframes", "max_frames",
                                                    "start_s", "end_s", "heatmap"}
    assert {"not": {"required": ["every_n", "fps"]}} in options["schema"]["allOf"]
    assert {"not": {"required": ["fps", "keyframes"], "properties": {"keyframes": {"const": True}}}} in (
        options["schema"]["allOf"])
    assert options["schema"]["properties"]["max_frames"]["maximum"] == settings.max_frames
    # no keys set: the key is declared, and optional
    assert operation["security"] == [{"ApiKey": []}, {}]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ScreenResponse"
    )


def test_model_route_reports_card_and_providers(client: TestClient) -> None:
    body = client.get("/v1/model").json()
    assert body["card"]["name"] == "test-model"
    assert body["card"]["input"]["height"] == MODEL_SIZE
    assert body["providers"] == ["CPUExecutionProvider"]


def test_model_file_route_serves_the_served_file(client: TestClient, model_path: Path) -> None:
    response = client.get("/v1/model/onnx")
    assert response.status_code == 200 and response.headers["content-type"] == "application/octet-stream"
    assert response.content == model_path.read_bytes()


@pytest.mark.parametrize(
    ("name", "codec", "reported"),
    [("clip.mkv", "libsvtav1", "av1"), ("clip.gif", "gif", "gif")],
)
def test_av1_read_by_libdav1d_and_animated_gif_are_accepted(
    client: TestClient, make_video, name: str, codec: str, reported: str
) -> None:
    video = make_video(name, codec=codec, size=(64, 64), frames=8)
    response = client.post("/v1/screen", content=video.read_bytes(), headers={"content-type": "video/mp4"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["video"]["codec"] == reported and body["video"]["frames_screened"] == 8
