"""A face model in bulk: each frame's faces as the REST API answers them, and a video
without a face `not_applicable`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pyarrow.parquet as pq
import pytest
from skimage import data

from app.bulk.pipeline import BulkJob, run_bulk
from app.main import create_app
from tests.baseline import build_baseline
from tests.helpers import MODEL_SIZE, configured, encode_frames, face_scene, running_client, with_face_crop


@pytest.fixture(scope="module")
def face_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("faces") / "faces.onnx"
    model = build_baseline(size=MODEL_SIZE, name="face-model", version="0.0.1")
    onnx.save(with_face_crop(model, margin=1.3, min_face_px=40, max_faces=4), path)
    return path


def test_faces_and_a_video_without_one(local_ray, face_model, settings, tmp_path):
    frames = [face_scene((640, 360), 80, (60 + 50 * i, 120 + 10 * i), data.coffee())[0] for i in range(6)]
    coffee = [np.roll(data.coffee(), 8 * i, axis=1) for i in range(4)]
    clips = [encode_frames(tmp_path / "face.mp4", frames), encode_frames(tmp_path / "coffee.mp4", coffee)]
    faces_settings = configured(settings, model_path=face_model)
    summary = run_bulk(faces_settings, BulkJob([str(c) for c in clips], tmp_path / "out", batch_size=8))
    rows = pq.read_table(tmp_path / "out" / "frames").to_pylist()
    videos = {Path(v["video_id"]).name: v for v in pq.read_table(tmp_path / "out" / "videos").to_pylist()}

    assert summary.frames == 10 and not summary.errors
    for client in running_client(create_app(faces_settings)):
        for clip in clips:
            body = client.post("/v1/screen", content=clip.read_bytes(),
                               headers={"content-type": "video/mp4"}).json()
            ours = sorted((r for r in rows if r["video_id"] == str(clip)), key=lambda r: r["index"])
            assert [(r["index"], r["reason"]) for r in ours] == [(f["index"], f["reason"])
                                                                 for f in body["frames"]]
            for row, frame in zip(ours, body["frames"], strict=True):
                assert len(row["faces"]) == len(frame["faces"])
                for got, want in zip(row["faces"], frame["faces"], strict=True):
                    assert got["box"] == pytest.approx(want["box"], abs=1e-4)
                    assert got["p_synthetic"] == pytest.approx(want["p_synthetic"], abs=1e-6)
            video = videos[clip.name]
            assert (video["verdict"], video["frames_with_faces"]) == (
                body["summary"]["verdict"], body["summary"]["frames_with_faces"])
    assert (videos["coffee.mp4"]["verdict"], videos["coffee.mp4"]["reason"]) == ("not_applicable", "no_faces")
    assert videos["face.mp4"]["frames_with_faces"] == 6
