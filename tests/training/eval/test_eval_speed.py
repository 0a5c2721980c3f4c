"""training/speed.py: the ensemble rule by hand; real ONNX Runtime timings are positive."""

from pathlib import Path

import numpy as np
import onnx
import pytest

from tests.baseline import build_baseline
from training.speed import (
    compare_speed,
    ensemble_frames_per_second,
    frames_per_second,
    load_engine,
    random_frames,
)


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


def test_models_are_timed_side_by_side(baseline: Path, exported) -> None:
    fps = compare_speed([baseline, exported.path], batch_size=4, threads=1, rounds=2, seconds=0.05)
    assert len(fps) == 2 and all(f > 0 for f in fps)
    assert frames_per_second(baseline, batch_size=2, threads=1, rounds=1, seconds=0.02) > 0


def test_frames_follow_the_card(exported) -> None:
    engine = load_engine(exported.path, threads=1)
    frames = random_frames(engine, 3)
    assert frames.shape == (3, 32, 32, 3) and frames.dtype == np.uint8
    np.testing.assert_array_equal(frames, random_frames(engine, 3))  # seeded


def test_bad_arguments_are_refused(baseline: Path) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        compare_speed([baseline], batch_size=0)
