"""heatmap=true on POST /v1/screen (and /v1/jobs): where the model looks, from a real ONNX
model with an attention output, on a real encoded clip; a model without one refuses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.helpers import MODEL_SIZE, configured, direct_run, running_client

VIDEO = {"content-type": "video/mp4"}
SIDE = MODEL_SIZE // 16  # four stride-2 convolutions
ROUNDING = 5e-4 + 1e-6  # the API's 3 decimals


@pytest.fixture
def looking_client(settings: Settings, attention_model_path: Path) -> Iterator[TestClient]:
    yield from running_client(create_app(configured(settings, model_path=attention_model_path)))


def direct_heatmaps(video: Path, model: Path, every_n: int) -> np.ndarray:
    """The model's attention output by plain PyAV and ONNX Runtime, sharing no service code."""
    with av.open(str(video)) as container:
        frames = [f.to_ndarray(width=MODEL_SIZE, height=MODEL_SIZE, format="rgb24")
                  for i, f in enumerate(container.decode(video=0)) if i % every_n == 0]
    return direct_run(frames, model, "attention")


def test_heatmaps_are_the_models_attention_map_of_each_frame(
    looking_client: TestClient, videos: dict[str, Path], attention_model_path: Path
) -> None:
    response = looking_client.post("/v1/screen", params={"every_n": 4, "heatmap": "true"},
                                   content=videos["h264"].read_bytes(), headers=VIDEO)
    assert response.status_code == 200, response.text
    frames = response.json()["frames"]
    grids = np.array([f["heatmap"] for f in frames])
    assert grids.shape == (12, SIDE, SIDE)
    assert grids.min() >= 0 and np.all(grids.max(axis=(1, 2)) == 1)  # each frame's max is 1
    assert all(round(v, 3) == v for v in grids.ravel())  # 3 decimals
    expected = direct_heatmaps(videos["h264"], attention_model_path, 4)
    np.testing.assert_allclose(grids, expected, atol=ROUNDING)


def test_without_heatmap_nothing_changes_but_the_maps(
    looking_client: TestClient, videos: dict[str, Path]
) -> None:
    answers = [looking_client.post("/v1/screen", params={"every_n": 4, **heatmap},
                                   content=videos["h264"].read_bytes(), headers=VIDEO).json()
               for heatmap in ({}, {"heatmap": "true"})]
    plain, looked = (a["frames"] for a in answers)
    assert all(f["heatmap"] is None for f in plain) and all(f["heatmap"] for f in looked)
    assert [f["p_synthetic"] for f in plain] == [f["p_synthetic"] for f in looked]
    assert looking_client.get("/v1/model").json()["card"]["output"]["extra"] == {"attention": "attention"}


def test_heatmap_as_a_form_field(looking_client: TestClient, videos: dict[str, Path]) -> None:
    response = looking_client.post("/v1/screen", files={"file": ("clip.mp4", videos["h264"].read_bytes())},
                                   data={"frames": "3", "heatmap": "true"})
    assert response.status_code == 200, response.text
    assert [np.shape(f["heatmap"]) for f in response.json()["frames"]] == [(SIDE, SIDE)] * 3


@pytest.mark.parametrize("route", ["/v1/screen", "/v1/jobs"])
def test_a_model_without_attention_still_serves_and_refuses_heatmaps_with_a_code(
    client: TestClient, videos: dict[str, Path], route: str
) -> None:
    body = videos["h264"].read_bytes()
    refused = client.post(route, params={"heatmap": "true"}, content=body, headers=VIDEO)
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "heatmap_unavailable" and "test-model 1.2.3" in error["message"]
    assert client.get("/v1/model").json()["card"]["output"]["extra"] == {}
    served = client.post("/v1/screen", params={"frames": 2}, content=body, headers=VIDEO)
    assert served.status_code == 200 and [f["heatmap"] for f in served.json()["frames"]] == [None, None]
