"""training/modelfile/speed.py: the ensemble rule by hand; a figure is the frames run over the time
they took; a heavier model measures slower than a light one timed beside it."""

import time
from pathlib import Path
from typing import Protocol

import numpy as np
import onnx
import pytest

from tests.baseline import build_baseline
from training.modelfile.speed import (
    _frames_per_second,
    compare_speed,
    ensemble_frames_per_second,
    frames_per_second,
    load_engine,
    random_frames,
)


class Predicting(Protocol):
    def predict(self, frames: np.ndarray) -> np.ndarray: ...


class CountingEngine:
    """A loaded engine that counts the calls and frames it runs and the time they take."""

    def __init__(self, engine: Predicting) -> None:
        self.engine = engine
        self.calls = 0
        self.frames = 0
        self.busy_s = 0.0

    def predict(self, frames: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        answers = self.engine.predict(frames)
        self.busy_s += time.perf_counter() - start
        self.calls += 1
        self.frames += len(frames)
        return answers


@pytest.fixture
def baseline(tmp_path: Path) -> Path:
    path = tmp_path / "baseline.onnx"
    onnx.save(build_baseline(size=32), path)
    return path


def test_ensemble_adds_member_times_per_frame() -> None:
    assert ensemble_frames_per_second([100.0, 100.0]) == pytest.approx(50.0)
    assert ensemble_frames_per_second([100.0, 300.0, 300.0]) == pytest.approx(60.0)  # 1 / (1/100 + 2/300)
    assert ensemble_frames_per_second([42.0]) == pytest.approx(42.0)
    for bad in ([], [100.0, 0.0]):
        with pytest.raises(ValueError, match="positive"):
            ensemble_frames_per_second(bad)


def test_a_figure_is_the_frames_run_over_the_time_taken(baseline: Path) -> None:
    engine = CountingEngine(load_engine(baseline, threads=1))
    frames = random_frames(engine.engine, 4)
    seconds = 0.05
    start = time.perf_counter()
    fps = _frames_per_second(engine, frames, seconds)
    outer_s = time.perf_counter() - start
    assert engine.calls >= 1 and engine.frames == 4 * engine.calls  # whole batches only
    # the timed span lies between the predict calls' own time (and `seconds`) and the call's
    assert engine.frames / outer_s <= fps <= engine.frames / max(seconds, engine.busy_s)


def test_a_batch_runs_once_when_it_outlasts_the_time_asked(baseline: Path) -> None:
    engine = CountingEngine(load_engine(baseline, threads=1))
    start = time.perf_counter()
    fps = _frames_per_second(engine, random_frames(engine.engine, 3), 1e-9)
    outer_s = time.perf_counter() - start
    assert (engine.calls, engine.frames) == (1, 3)
    assert 3 / outer_s <= fps <= 3 / engine.busy_s


def test_a_heavier_model_measures_slower_side_by_side(baseline: Path, exported, tmp_path: Path) -> None:
    heavy = tmp_path / "heavy.onnx"
    onnx.save(build_baseline(size=128), heavy)  # the same network on 16 times the pixels
    fps = compare_speed([heavy, baseline, exported.path], batch_size=4, threads=1, rounds=3, seconds=0.05)
    assert len(fps) == 3 and all(f > 0 for f in fps)
    assert fps[0] < fps[1], fps


def test_frames_follow_the_card(exported) -> None:
    engine = load_engine(exported.path, threads=1)
    frames = random_frames(engine, 3)
    assert frames.shape == (3, 32, 32, 3) and frames.dtype == np.uint8
    np.testing.assert_array_equal(frames, random_frames(engine, 3))  # seeded


def test_bad_arguments_are_refused(baseline: Path) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        compare_speed([baseline], batch_size=0)
    with pytest.raises(ValueError, match="got 32, 2, 0, 1.0"):  # its arguments reach compare_speed
        frames_per_second(baseline, rounds=0)
