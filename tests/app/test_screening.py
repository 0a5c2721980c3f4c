"""Screening through one shared batcher: concurrent videos share inference batches."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable
from pathlib import Path

import av
import numpy as np
import pytest

from app.config import Settings
from app.inference.engine import Engine
from app.judges import make_judge
from app.judging import FrameJudge, Judgement
from app.metrics import Metrics
from app.schemas import ScreenOptions
from app.screening import Screener
from app.video.decoders import decoder_from_settings
from tests.helpers import configured

pytestmark = pytest.mark.anyio


def flat_video(path: Path, value: int, frames: int = 60) -> Path:
    """A clip whose every frame is one grey level, so its frames can be told apart anywhere."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for _ in range(frames):
            image = np.full((64, 64, 3), value, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


class RecordingEngine:
    """An engine whose predict remembers which videos (by grey level) each batch held; the
    first batch waits for `release`, so both producers have queued frames by then."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.card = engine.card
        self.batches: list[set[int]] = []
        self.release = threading.Event()

    def predict(self, frames: np.ndarray) -> np.ndarray:
        self.release.wait(timeout=10)
        self.batches.append({int(round(v / 100)) for v in frames.mean(axis=(1, 2, 3))})
        return self.engine.predict(frames)


class QueueWatch:
    """The screener's own judge behind a hook: `full` is set once both videos (told apart by
    grey level) have submitted frames and the classifier's queue holds `level` frames."""

    def __init__(self, judge: FrameJudge, level: int) -> None:
        self.judge = judge
        self.conversions = judge.conversions
        self.level = level
        self.seen: set[int] = set()
        self.full = asyncio.Event()

    async def submit(self, converted: np.ndarray, heatmap: bool = False) -> Awaitable[Judgement]:
        judged = await self.judge.submit(converted, heatmap)
        self.seen.add(int(round(converted.mean() / 100)))
        if len(self.seen) == 2 and self.judge.classifier.queued >= self.level:
            self.full.set()
        return judged

    async def start(self) -> None:
        await self.judge.start()

    async def stop(self) -> None:
        await self.judge.stop()

    def warm_up(self, batches: int) -> None:
        self.judge.warm_up(batches)


async def test_two_videos_at_once_share_batches(settings: Settings, tmp_path: Path) -> None:
    # room for both videos: each decoder worker starts in its own time, so the queue fills
    # with both whatever order they come in
    settings = configured(settings, max_batch_size=16, max_queued_frames=256, max_wait_ms=50)
    recorder, metrics = RecordingEngine(Engine.from_settings(settings)), Metrics()
    watch = QueueWatch(make_judge(settings, recorder, metrics), level=64)  # type: ignore[arg-type]
    decoder = decoder_from_settings(settings, metrics)
    screener = Screener.from_settings(settings, recorder.card, watch, decoder, metrics)
    dark, light = flat_video(tmp_path / "dark.mp4", 0), flat_video(tmp_path / "light.mp4", 200)
    decoder.start()
    await watch.start()
    with dark.open("rb") as a, light.open("rb") as b:
        jobs = [asyncio.create_task(screener.screen(f, ScreenOptions(), time.perf_counter())) for f in (a, b)]
        try:
            await asyncio.wait_for(watch.full.wait(), timeout=30)  # held first batch, both queued
            recorder.release.set()
            first, second = await asyncio.wait_for(asyncio.gather(*jobs), timeout=60)
        finally:
            recorder.release.set()
            for job in jobs:
                job.cancel()
            await asyncio.gather(*jobs, return_exceptions=True)
            await watch.stop()
            decoder.stop()
    assert first.video.frames_screened == second.video.frames_screened == 60
    assert any(batch == {0, 2} for batch in recorder.batches), recorder.batches
    assert len(recorder.batches) < 120 / 4
