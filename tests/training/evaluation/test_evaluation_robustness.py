"""training/evaluation/robustness.py: degraded copies made with PyAV, cached, and scored."""

from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np
import pytest

from training.data.frames import sample_frames
from training.degrade.encode import EncodeSettings, encode_video
from training.evaluation.robustness import DEFAULT_CONDITIONS, Condition, degrade, robustness_table


def _checkerboard(level: int) -> np.ndarray:
    """48x64 frame: a 1-pixel checkerboard (+-60 around `level`)."""
    yy, xx = np.mgrid[:48, :64]
    return np.where((yy + xx) % 2, level + 60, level - 60).astype(np.uint8)[..., None].repeat(3, -1)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Four 6-frame clips at 10 fps: dark (authentic) and bright (synthetic) checkerboards."""
    root = tmp_path_factory.mktemp("clips")
    out = []
    for i, level in enumerate((70, 180, 80, 170)):
        path = root / f"clip{i}.mp4"
        encode_video(path, [_checkerboard(level)] * 6, EncodeSettings(fps=10, crf=0, preset="ultrafast"))
        out.append(path)
    return out


def _info(path: Path) -> tuple[int, int, int, int]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return s.codec_context.width, s.codec_context.height, round(float(s.average_rate)), s.frames


def test_degraded_copy_keeps_size_rate_and_frames_and_is_cached(clips: list[Path], tmp_path: Path) -> None:
    out = degrade(clips[0], Condition("crf45", crf=45), tmp_path)
    assert out.parent == tmp_path / "crf45" and out.name.startswith("clip0-")
    assert _info(out) == _info(clips[0]) == (64, 48, 10, 6)
    stamp = out.stat().st_mtime_ns
    assert degrade(clips[0], Condition("crf45", crf=45), tmp_path) == out
    assert out.stat().st_mtime_ns == stamp  # served from the cache, not re-encoded
    assert degrade(clips[0], Condition("crf45", crf=40), tmp_path) != out  # the key holds the settings


def test_down_scaling_destroys_pixel_detail(clips: list[Path], tmp_path: Path) -> None:
    clean = sample_frames(clips[0], 1, None).astype(float)
    scaled = sample_frames(degrade(clips[0], Condition("half", scale=0.5), tmp_path), 1, None).astype(float)
    assert clean.std() > 50 > 20 > scaled.std()
    assert abs(clean.mean() - scaled.mean()) < 10


def test_table_scores_clean_and_every_degradation(clips: list[Path], tmp_path: Path) -> None:
    calls: list[int] = []

    def brightness(paths: Sequence[Path]) -> list[np.ndarray]:
        calls.append(len(paths))
        return [sample_frames(p, 3, 32).mean(axis=(1, 2, 3)) / 255 for p in paths]

    table = robustness_table(clips, [0, 1, 0, 1], brightness, tmp_path)
    assert list(table) == ["clean"] + [d.name for d in DEFAULT_CONDITIONS]
    assert all(row == {"auc": 1.0, "video_auc": 1.0} for row in table.values())
    assert calls == [4] * (1 + len(DEFAULT_CONDITIONS))


def test_bad_arguments_are_refused(clips: list[Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="crf"):
        Condition("x", crf=60)
    with pytest.raises(ValueError, match="scale"):
        Condition("x", scale=2.0)
    with pytest.raises(ValueError, match="labels"):
        robustness_table(clips, [0, 1], lambda p: [], tmp_path)
    with pytest.raises(ValueError, match="scorer returned 0"):
        robustness_table(clips, [0, 1, 0, 1], lambda p: [], tmp_path)
