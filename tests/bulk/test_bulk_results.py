"""The results writer: videos written whole, in any arrival order, once; what a killed run
left half-written is removed; videos lost after Ray's retries recorded."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq

from app.bulk.decode import pack, unpack
from app.bulk.results import ResultWriter, done_videos
from app.contract.card import ModelCard
from app.video.conversion import PixelsAt
from training.modelfile.cardfile import read_card

FACTS = {"container": "mov,mp4,m4a,3gp,3g2,mj2", "codec": "h264", "width": 160, "height": 120, "fps": 24.0,
         "duration_s": 2.0, "declared_frames": 48, "frames_decoded": 48, "frames_screened": 2}


def card(model_path) -> ModelCard:
    import onnx

    return read_card(onnx.load(model_path))


def rows(*items: tuple[str, str, dict]) -> dict[str, list]:
    return {"video_id": [i[0] for i in items], "kind": [i[1] for i in items],
            "detail": [json.dumps(i[2]) for i in items]}


def frame(index: int, p: float = 0.25) -> dict:
    return {"index": index, "time_s": index / 24, "p_synthetic": p}


def test_videos_are_written_whole_in_any_order(model_path, tmp_path):
    writer = ResultWriter(tmp_path, card(model_path), False, {"a": {"label": "fake"}}, videos_per_part=1)
    writer.add(rows(("a", "frame", frame(2)), ("a", "video", {"frames": 2, "facts": FACTS, "decode_s": 0.1})))
    assert not list((tmp_path / "videos").glob("*.parquet"))  # a's frame 0 is still on its way
    refused = {"error": {"code": "bad_frame", "message": "no"}}
    writer.add(rows(("a", "frame", frame(0, 0.75)), ("b", "frame", frame(0)), ("b", "frame", refused),
                    ("b", "frame", frame(1))))
    tally = writer.close(["a", "b", "c"])

    frames = pq.read_table(tmp_path / "frames").to_pylist()
    videos = {v["video_id"]: v for v in pq.read_table(tmp_path / "videos").to_pylist()}
    assert [(f["video_id"], f["index"]) for f in frames] == [("a", 0), ("a", 2)]
    assert videos["a"]["mean_p_synthetic"] == 0.5 and videos["a"]["label"] == "fake"
    assert videos["a"]["verdict"] in ("authentic", "synthetic") and videos["a"]["frames_screened"] == 2
    assert (videos["b"]["status"], videos["b"]["error_code"]) == ("error", "bad_frame")
    assert videos["c"]["error_code"] == "internal_error"
    assert (tally.videos, tally.frames, dict(tally.errors)) == (3, 2, {"bad_frame": 1, "internal_error": 1})
    assert done_videos(tmp_path) == {"a", "b", "c"}


def test_a_killed_runs_leftovers_are_removed(model_path, tmp_path):
    writer = ResultWriter(tmp_path, card(model_path), False, {})
    writer.add(rows(("a", "video", {"frames": 0, "error": {"code": "not_a_video", "message": "text"}})))
    writer.flush()
    [part] = (tmp_path / "frames").glob("*.parquet")
    (tmp_path / "frames" / "part-orphan.parquet").write_bytes(part.read_bytes())
    (tmp_path / "videos" / "part-half.tmp").write_bytes(b"half")
    assert done_videos(tmp_path) == {"a"}
    assert sorted(p.name for p in tmp_path.rglob("part-*")) == [part.name, part.name]


def test_frames_cross_as_bytes_and_come_back_equal():
    conversion = PixelsAt((8, 6))
    pixels = np.random.default_rng(0).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    assert np.array_equal(unpack(conversion, pack(conversion, pixels)), pixels)
