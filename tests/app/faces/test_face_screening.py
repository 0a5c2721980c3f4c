"""Face mode end to end over the ASGI app: per-face answers equal a direct ONNX Runtime
run on crops cut independently, face-free videos are not applicable, streams answer the
same way, metrics count faces, and /v1/model shows the crop."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import onnx
import pytest
from fastapi.testclient import TestClient
from skimage import data

from app.config import Settings
from app.contract.card import ModelCard
from app.main import create_app
from tests.baseline import build_baseline
from tests.helpers import (
    MODEL_SIZE,
    configured,
    direct_probabilities,
    direct_run,
    encode_frames,
    face_scene,
    independent_crop,
    running_client,
    with_face_crop,
)
from training.modelfile.cardfile import attach_card, read_card

MARGIN = 1.3


@pytest.fixture(scope="module")
def face_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("faces") / "faces.onnx"
    model = build_baseline(size=MODEL_SIZE, name="face-model", version="0.0.1")
    onnx.save(with_face_crop(model, margin=MARGIN, min_face_px=40, max_faces=4), path)
    return path


@pytest.fixture(scope="module")
def face_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight 640x360 frames: the astronaut's face (80 px) moving across a photo."""
    frames = [face_scene((640, 360), 80, (60 + 50 * i, 120 + 10 * i), data.coffee())[0] for i in range(8)]
    return encode_frames(tmp_path_factory.mktemp("faces") / "face.mp4", frames)


@pytest.fixture(scope="module")
def face_free_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frames = [np.roll(data.coffee(), 8 * i, axis=1) for i in range(6)]
    return encode_frames(tmp_path_factory.mktemp("faces") / "coffee.mp4", frames)


@pytest.fixture
def face_client(settings: Settings, face_model: Path) -> Iterator[TestClient]:
    yield from running_client(create_app(configured(settings, model_path=face_model)))


def test_upload_answers_each_face_like_a_direct_run_on_independent_crops(
    face_client: TestClient, face_video: Path, face_model: Path
) -> None:
    response = face_client.post("/v1/screen", content=face_video.read_bytes(),
                                headers={"content-type": "video/mp4"})
    assert response.status_code == 200, response.text
    body = response.json()
    frames = body["frames"]
    assert len(frames) == 8 and all(len(f["faces"]) == 1 for f in frames)
    with av.open(str(face_video)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    crops = [independent_crop(decoded[f["index"]], f["faces"][0]["box"], MARGIN, MODEL_SIZE) for f in frames]
    expected = direct_probabilities(crops, face_model)
    got = [f["faces"][0]["p_synthetic"] for f in frames]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert [f["p_synthetic"] for f in frames] == got  # one face: max of one
    for i, f in enumerate(frames):  # the face moves 50 px right, 10 px down a frame
        x1, y1 = f["faces"][0]["box"][:2]
        assert abs(x1 - (60 + 50 * i)) < 8 and abs(y1 - (120 + 10 * i)) < 8
    summary = body["summary"]
    assert summary["frames_with_faces"] == 8 and summary["reason"] is None
    assert summary["mean_p_synthetic"] == pytest.approx(np.mean(got))
    assert body["timings"]["detect_s"] > 0


def test_heatmaps_of_faces_are_of_their_crops(
    settings: Settings, face_video: Path, tmp_path: Path
) -> None:
    """A face model with an attention output: each face's heatmap is the map of its crop (a
    direct run on the crop cut independently), over the crop's region in source pixels."""
    model = tmp_path / "looking-faces.onnx"
    baseline = build_baseline(size=MODEL_SIZE, name="looking-faces", version="0.0.1", attention=True)
    onnx.save(with_face_crop(baseline, margin=MARGIN, min_face_px=40, max_faces=4), model)
    with contextlib.closing(running_client(create_app(configured(settings, model_path=model)))) as clients:
        client = next(clients)
        answers = [client.post("/v1/screen", params=params, content=face_video.read_bytes(),
                               headers={"content-type": "video/mp4"}).json()["frames"]
                   for params in ({"heatmap": "true"}, {})]
    looked, plain = answers
    assert [f["p_synthetic"] for f in looked] == [f["p_synthetic"] for f in plain]
    assert all(f["heatmap"] is None for f in looked)  # a face model's maps are its faces'
    assert all(face["heatmap"] is None and face["heatmap_box"] is None for f in plain for face in f["faces"])
    with av.open(str(face_video)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    faces = [f["faces"][0] for f in looked]
    crops = [independent_crop(decoded[f["index"]], face["box"], MARGIN, MODEL_SIZE)
             for f, face in zip(looked, faces, strict=True)]
    grids = np.array([face["heatmap"] for face in faces])
    assert grids.shape == (8, MODEL_SIZE // 16, MODEL_SIZE // 16)
    np.testing.assert_allclose(grids, direct_run(crops, model, "attention"), atol=2e-3)
    for face in faces:  # the box made square about its centre, times the margin
        x1, y1, x2, y2 = face["box"]
        side = max(x2 - x1, y2 - y1) * MARGIN
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        expected = [cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]
        assert face["heatmap_box"] == pytest.approx(expected, abs=1e-6)


def test_a_face_free_video_is_not_applicable(face_client: TestClient, face_free_video: Path) -> None:
    response = face_client.post("/v1/screen", content=face_free_video.read_bytes(),
                                headers={"content-type": "video/mp4"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert all(f == {"index": f["index"], "time_s": f["time_s"], "p_synthetic": None, "faces": [],
                     "reason": "no_face", "heatmap": None} for f in body["frames"])
    summary = body["summary"]
    assert (summary["verdict"], summary["reason"], summary["frames_with_faces"]) == (
        "not_applicable", "no_faces", 0)
    assert summary["mean_p_synthetic"] is None
    metrics = face_client.get("/metrics").text
    assert "distilscreen_frames_without_face_total 6.0" in metrics


def png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    with av.open(out, "w", format="image2pipe") as container:
        stream = container.add_stream("png")
        stream.width, stream.height, stream.pix_fmt = pixels.shape[1], pixels.shape[0], "rgb24"
        container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode())
    return out.getvalue()


def test_a_stream_of_images_answers_faces(face_client: TestClient, face_model: Path) -> None:
    images = [data.astronaut(), data.coffee(), face_scene((320, 240), 60, (100, 80))[0]]
    with face_client.websocket_connect("/v1/stream") as ws:
        ws.send_text(json.dumps({"type": "config", "kind": "images"}))
        for image in images:
            ws.send_bytes(png(image))
        ws.send_text(json.dumps({"type": "end"}))
        answers = [json.loads(ws.receive_text()) for _ in range(4)]
    first, second, third, summary = answers
    assert len(first["faces"]) == 1 and first["p_synthetic"] == first["faces"][0]["p_synthetic"]
    crop = independent_crop(data.astronaut(), first["faces"][0]["box"], MARGIN, MODEL_SIZE)
    assert first["p_synthetic"] == pytest.approx(direct_probabilities([crop], face_model)[0], abs=1e-5)
    assert (second["p_synthetic"], second["faces"], second["reason"]) == (None, [], "no_face")
    assert len(third["faces"]) == 1
    assert summary["type"] == "summary"
    assert (summary["frames_screened"], summary["frames_with_faces"]) == (3, 2)
    assert summary["mean_p_synthetic"] == pytest.approx((first["p_synthetic"] + third["p_synthetic"]) / 2)


def test_a_face_free_byte_stream_is_not_applicable(face_client: TestClient, tmp_path: Path) -> None:
    frames = [np.roll(data.coffee(), 8 * i, axis=1) for i in range(6)]
    stream = encode_frames(tmp_path / "coffee.ts", frames)  # MPEG-TS: readable as it arrives
    with face_client.websocket_connect("/v1/stream") as ws:
        ws.send_text(json.dumps({"type": "config", "kind": "container"}))
        ws.send_bytes(stream.read_bytes())
        ws.send_text(json.dumps({"type": "end"}))
        answers = [json.loads(ws.receive_text()) for _ in range(7)]
    assert all(a["reason"] == "no_face" for a in answers[:6])
    assert (answers[6]["verdict"], answers[6]["reason"]) == ("not_applicable", "no_faces")


def test_model_route_shows_the_crop_and_metrics_count_faces(
    face_client: TestClient, face_video: Path
) -> None:
    crop = face_client.get("/v1/model").json()["card"]["crop"]
    assert crop == {"kind": "face", "detector": "blazeface_full_range", "margin": MARGIN, "square": True,
                    "size": MODEL_SIZE, "min_face_px": 40, "max_faces": 4, "combine": "max"}
    face_client.post("/v1/screen", content=face_video.read_bytes(), headers={"content-type": "video/mp4"})
    metrics = face_client.get("/metrics").text
    assert "distilscreen_faces_detected_total 8.0" in metrics
    assert "distilscreen_face_detector_frames_total 16.0" in metrics  # two scales a frame
    assert "distilscreen_face_detector_duration_seconds_count" in metrics


def test_frame_models_answer_without_face_fields(client: TestClient, videos: dict[str, Path]) -> None:
    body = client.post("/v1/screen", content=videos["h264"].read_bytes(),
                       headers={"content-type": "video/mp4"}).json()
    assert all(f["faces"] is None and f["reason"] is None for f in body["frames"])
    assert body["summary"]["frames_with_faces"] is None and body["timings"]["detect_s"] is None


def test_the_screen_command_prints_faces(
    face_video: Path, face_free_video: Path, face_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main

    assert main(["screen", str(face_video), "--model", str(face_model), "--max-frames", "3"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps lines at the terminal's width
    assert "3 screened, 3 with faces" in out and "faces: p @ box" in out and "detector" in out
    assert main(["screen", str(face_free_video), "--model", str(face_model)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "no face" in out and "verdict: not_applicable (no_faces" in out


def test_a_bgr_face_model_gets_bgr_crops(settings: Settings, face_video: Path, tmp_path: Path) -> None:
    model = with_face_crop(build_baseline(size=MODEL_SIZE), margin=MARGIN)
    card = read_card(model)
    bgr = ModelCard.model_validate(card.model_dump() | {"input": card.input.model_dump() | {"color": "BGR"}})
    path = tmp_path / "bgr.onnx"
    onnx.save(attach_card(model, bgr), path)
    clients = running_client(create_app(configured(settings, model_path=path)))
    response = next(clients).post("/v1/screen", content=face_video.read_bytes(),
                                  headers={"content-type": "video/mp4"}, params={"max_frames": 2})
    clients.close()
    frames = response.json()["frames"]
    with av.open(str(face_video)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)][:2]
    crops = [independent_crop(d, f["faces"][0]["box"], MARGIN, MODEL_SIZE)[..., ::-1]
             for d, f in zip(decoded, frames, strict=True)]
    got = [f["p_synthetic"] for f in frames]
    np.testing.assert_allclose(got, direct_probabilities(crops, path), atol=1e-5)


def test_a_streamed_image_over_max_pixels_is_a_bad_frame(settings: Settings, face_model: Path) -> None:
    clients = running_client(create_app(configured(settings, model_path=face_model, max_pixels=100 * 100)))
    client = next(clients)
    with client.websocket_connect("/v1/stream") as ws:
        ws.send_text(json.dumps({"type": "config", "kind": "images"}))
        ws.send_bytes(png(data.astronaut()))
        ws.send_bytes(png(np.zeros((64, 64, 3), np.uint8)))
        ws.send_text(json.dumps({"type": "end"}))
        answers = [json.loads(ws.receive_text()) for _ in range(3)]
    clients.close()
    assert (answers[0]["type"], answers[0]["code"], answers[0]["fatal"]) == ("error", "bad_frame", False)
    assert "262144 pixels > limit 10000" in answers[0]["message"]
    assert answers[1]["reason"] == "no_face" and answers[2]["bad_frames"] == 1
