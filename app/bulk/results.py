"""The results of a bulk run as Parquet: `frames/` (one row per screened frame) and
`videos/` (one row per video: the REST answer's summary and verdict with the video's
facts, or the error that stopped it, with the service's code).

Rows arrive from the predictors in any order; a video is written once its closing row
and all its frames are in. Videos are written in parts (`part-<run>-<n>.parquet` in both
folders: frames first, then videos, each renamed into place whole), so a video is done
exactly when its row is in `videos/`: a re-run skips those, and a frames part left
without its videos part by a killed run is removed before the run starts.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from app.bulk.decode import FRAME
from app.contract.card import ModelCard
from app.schemas import FrameScore, VideoFacts
from app.screening import summarise

INTERNAL_ERROR = "internal_error"  # the service's code for a failure that is not the input's
_FACE = pa.struct([("box", pa.list_(pa.float64())), ("score", pa.float64()), ("p_synthetic", pa.float64())])
_FRAMES = pa.schema([("video_id", pa.string()), ("index", pa.int64()), ("time_s", pa.float64()),
                     ("p_synthetic", pa.float64()), ("reason", pa.string())])
_VIDEOS = pa.schema(
    [("video_id", pa.string()), ("status", pa.string()), ("error_code", pa.string()),
     ("error_message", pa.string()), ("model_name", pa.string()), ("model_version", pa.string()),
     ("mean_p_synthetic", pa.float64()), ("max_p_synthetic", pa.float64()),
     ("fraction_above_threshold", pa.float64()), ("threshold", pa.float64()), ("verdict", pa.string()),
     ("reason", pa.string()), ("frames_with_faces", pa.int64()),
     ("container", pa.string()), ("codec", pa.string()), ("width", pa.int64()), ("height", pa.int64()),
     ("fps", pa.float64()), ("duration_s", pa.float64()), ("declared_frames", pa.int64()),
     ("frames_decoded", pa.int64()), ("frames_screened", pa.int64()), ("decode_s", pa.float64())]
)


def done_videos(out: Path) -> set[str]:
    """The ids already in `out/videos/`, after removing what a killed run left half-written."""
    for folder in (out / "frames", out / "videos"):
        folder.mkdir(parents=True, exist_ok=True)
        for partial in folder.glob("*.tmp"):
            partial.unlink()
    written = {p.name for p in (out / "videos").glob("part-*.parquet")}
    for orphan in (out / "frames").glob("part-*.parquet"):
        if orphan.name not in written:
            orphan.unlink()
    tables = (pq.read_table(out / "videos" / name, columns=["video_id"]) for name in written)
    return {video_id for table in tables for video_id in table["video_id"].to_pylist()}


@dataclass
class _Video:
    frames: list[FrameScore] = field(default_factory=list)
    closing: dict[str, Any] | None = None
    error: dict[str, str] | None = None


@dataclass
class Tally:
    """What a run did, for its summary."""

    videos: int = 0
    frames: int = 0
    errors: Counter[str] = field(default_factory=Counter)


class ResultWriter:
    """Gathers predictor rows per video and writes finished videos in parts of
    `videos_per_part` (or every `flush_s` seconds); `close` writes the rest, and records
    each expected video that never finished (lost after Ray's retries) as an internal error."""

    def __init__(self, out: Path, card: ModelCard, face_model: bool,
                 columns: dict[str, dict[str, str | None]],
                 videos_per_part: int = 64, flush_s: float = 30.0) -> None:
        self.out, self.card, self.face_model = out, card, face_model
        for folder in (out / "frames", out / "videos"):
            folder.mkdir(parents=True, exist_ok=True)
        self.columns = columns  # each video's manifest columns
        extra = sorted({name for values in columns.values() for name in values})
        self.frame_schema = _FRAMES.append(pa.field("faces", pa.list_(_FACE))) if face_model else _FRAMES
        self.video_schema = pa.schema([*_VIDEOS, *(pa.field(c, pa.string()) for c in extra)])
        self.videos_per_part, self.flush_s = videos_per_part, flush_s
        self.tally = Tally()
        self._open: dict[str, _Video] = {}
        self._finished: set[str] = set()
        self._frame_rows: list[dict[str, Any]] = []
        self._video_rows: list[dict[str, Any]] = []
        self._run = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
        self._parts = 0
        self._flushed = time.monotonic()

    def add(self, batch: dict[str, Any]) -> None:
        """One batch of predictor rows (`video_id`, `kind`, `index`, `time_s`, `detail`)."""
        for video_id, kind, detail in zip(batch["video_id"], batch["kind"], batch["detail"], strict=True):
            video_id = str(video_id)
            if video_id in self._finished:
                continue  # a frame of a video already failed
            video = self._open.setdefault(video_id, _Video())
            parsed = json.loads(detail)
            if kind != FRAME:
                video.closing = parsed
                video.error = video.error or parsed.get("error")
            elif "error" in parsed:
                video.error = parsed["error"]
            else:
                video.frames.append(FrameScore.model_validate(parsed))
            if video.error or (video.closing and len(video.frames) == video.closing["frames"]):
                self._finish(video_id, self._open.pop(video_id))
        if (len(self._video_rows) >= self.videos_per_part
                or (self._video_rows and time.monotonic() - self._flushed >= self.flush_s)):
            self.flush()

    def close(self, expected: Iterable[str]) -> Tally:
        for video_id in expected:
            if video_id not in self._finished:
                self._open.pop(video_id, None)
                error = {"code": INTERNAL_ERROR, "message": "the video's tasks failed after Ray's retries"}
                self._finish(video_id, _Video(error=error))
        self.flush()
        return self.tally

    @property
    def finished(self) -> int:
        return len(self._finished)

    def flush(self) -> None:
        if not self._video_rows:
            return
        name = f"part-{self._run}-{self._parts:05d}.parquet"
        _write(pa.Table.from_pylist(self._frame_rows, self.frame_schema), self.out / "frames" / name)
        _write(pa.Table.from_pylist(self._video_rows, self.video_schema), self.out / "videos" / name)
        self._parts += 1
        self._frame_rows, self._video_rows = [], []
        self._flushed = time.monotonic()

    def _finish(self, video_id: str, video: _Video) -> None:
        self._finished.add(video_id)
        row: dict[str, Any] = {"video_id": video_id, "model_name": self.card.name,
                               "model_version": self.card.version, **self.columns.get(video_id, {})}
        self.tally.videos += 1
        if video.error:
            self.tally.errors[video.error["code"]] += 1
            self._video_rows.append(row | {"status": "error", "error_code": video.error["code"],
                                           "error_message": video.error["message"]})
            return
        assert video.closing is not None
        frames = sorted(video.frames, key=lambda f: f.index)
        summary = summarise([f.p_synthetic for f in frames if f.p_synthetic is not None], self.face_model,
                            self.card.calibration.threshold)
        facts = VideoFacts.model_validate(video.closing["facts"])
        self._video_rows.append(row | {"status": "ok", **summary.model_dump(), **facts.model_dump(),
                                       "decode_s": video.closing["decode_s"]})
        self._frame_rows.extend(self._frame_row(video_id, f) for f in frames)
        self.tally.frames += len(frames)

    def _frame_row(self, video_id: str, frame: FrameScore) -> dict[str, Any]:
        row = {"video_id": video_id, "index": frame.index, "time_s": frame.time_s,
               "p_synthetic": frame.p_synthetic, "reason": frame.reason}
        if self.face_model:
            row["faces"] = [{"box": list(f.box), "score": f.score, "p_synthetic": f.p_synthetic}
                            for f in frame.faces or []]
        return row


def _write(table: pa.Table, path: Path) -> None:
    partial = path.with_suffix(".tmp")
    pq.write_table(table, partial)
    os.replace(partial, path)
