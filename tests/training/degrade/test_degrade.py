"""training/degrade: degradations drawn from the config's ranges, applied with real
encoders; the frames of a degraded view, their cache keys and the soft labels on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from tests.helpers import astronaut, encode_frames
from training.config import ConfigError, load_config
from training.data import FrameCache, sample_frames
from training.data.frameset import sample_key
from training.degrade import DegradeSpec, Encode, Jpeg, Noise, Rescale, write_degraded

EVERY_STEP = {"encode": {"p": 1.0, "crf": [30, 40], "codecs": ["h264", "hevc", "vp9"]},
              "rescale": {"p": 1.0, "factor": [0.4, 0.8]}, "jpeg": {"p": 1.0, "quality": [30, 60]},
              "noise": {"p": 1.0, "sigma": [0.01, 0.02]}}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 frames of a photo panning right: texture that costs bits to keep."""
    photo = astronaut()
    frames = [np.ascontiguousarray(photo[100:196, 40 + 6 * t : 168 + 6 * t]) for t in range(12)]
    return encode_frames(tmp_path_factory.mktemp("clip") / "pan.mp4", frames, fps=12, crf=12)


def test_a_draw_is_seeded_by_run_view_and_clip() -> None:
    spec = DegradeSpec.model_validate(EVERY_STEP)
    draws = [spec.draw(0, view, f"clip{i}") for view in (1, 2) for i in range(20)]
    assert draws == [spec.draw(0, view, f"clip{i}") for view in (1, 2) for i in range(20)]
    assert len(set(draws)) == len(draws)  # clips and views draw apart
    assert spec.draw(1, 1, "clip0") != spec.draw(0, 1, "clip0")
    orders = {tuple(type(s).__name__ for s in d) for d in draws}
    assert len(orders) > 5 and all(len(d) == 4 for d in draws)  # every step, in random orders
    for d in draws:
        (encode,) = [s for s in d if isinstance(s, Encode)]
        assert 30 <= encode.crf <= 40 and encode.codec in ("h264", "hevc", "vp9")
    assert {type(s) for s in draws[0]} == {Encode, Rescale, Jpeg, Noise}
    assert not DegradeSpec().active and DegradeSpec().draw(0, 1, "clip0") == ()


@pytest.mark.parametrize("codec", ["h264", "hevc", "vp9"])
def test_the_same_bytes_give_the_same_frames(clip: Path, codec: str) -> None:
    steps = (Rescale(0.6), Noise(0.02, seed=3), Jpeg(50), Encode(codec, 36))
    first = sample_frames(clip, 6, 64, seed=1, degradation=steps)
    again = sample_frames(clip, 6, 64, seed=1, degradation=steps)
    clean = sample_frames(clip, 6, 64, seed=1)
    np.testing.assert_array_equal(first, again)
    assert first.shape == clean.shape == (6, 64, 64, 3)
    gap = np.abs(first.astype(float) - clean).mean()
    assert 2 < gap < 40  # degraded, still the same picture


def test_a_higher_drawn_crf_spends_fewer_bits(clip: Path, tmp_path: Path) -> None:
    spec = DegradeSpec.model_validate({"encode": {"p": 1.0, "crf": [18, 46]}})
    draws = [spec.draw(0, view, "pan") for view in range(1, 13)]
    crfs = [d[0].crf for d in draws]
    sizes = [write_degraded(clip, d, tmp_path / f"{i}.mp4").stat().st_size for i, d in enumerate(draws)]
    assert all(18 <= c <= 46 for c in crfs) and max(crfs) - min(crfs) >= 14
    assert spearmanr(crfs, sizes).statistic < -0.95
    ladder = [write_degraded(clip, (Encode("h264", c),), tmp_path / f"c{c}.mp4").stat().st_size
              for c in (18, 25, 32, 39, 46)]
    assert ladder == sorted(ladder, reverse=True) and ladder[0] > 2.5 * ladder[-1]


def test_degraded_frames_have_their_own_cache_entries(clip: Path, tmp_path: Path) -> None:
    cache = FrameCache(tmp_path / "cache")
    clean = cache.get(clip, 4, 32, 0)
    harsh = cache.get(clip, 4, 32, 0, (Encode("h264", 45),))
    mild = cache.get(clip, 4, 32, 0, (Encode("h264", 20),))
    assert (cache.misses, cache.hits) == (3, 0)
    assert not np.array_equal(harsh, clean) and not np.array_equal(harsh, mild)
    np.testing.assert_array_equal(cache.get(clip, 4, 32, 0, (Encode("h264", 45),)), harsh)
    assert cache.hits == 1


def test_the_data_stage_degrades_every_view_but_the_first(tmp_path: Path) -> None:
    from training.data.stage import stage_data
    from training.run import start_run

    overrides = ["data.synth={videos: 10, frames: 4, size: 64, difficulty: 0.3}",
                 "data.frames_per_video=2", "data.eval_frames_per_video=1", "softlabels.views=3",
                 "teachers.epochs=2", "teachers.holdout=0.0", "students.frames_per_video=null",
                 "degrade.encode={p: 1.0, crf: [40, 45]}"]
    data = stage_data(start_run(load_config("smoke", overrides), tmp_path / "run", False))
    size = 64  # the smoke students'
    train, transfer = [v[size] for v in data.frames.train], [v[size] for v in data.frames.transfer]
    assert len(train) == 2 and len(transfer) == 3
    assert transfer[0] is train[0] and transfer[1] is train[1]  # same clips and frames: shared
    for degraded in transfer[1:]:
        assert degraded.keys != transfer[0].keys and degraded.labels.tolist() == transfer[0].labels.tolist()
        assert np.abs(degraded.frames.astype(float) - transfer[0].frames).mean() > 1
    assert not np.array_equal(transfer[1].frames, transfer[2].frames)  # each view its own draw
    assert data.frames.test[size].keys == tuple(sample_key(s) for s in data.frames.test[size].samples)


@pytest.mark.parametrize(("override", "message"), [
    ("degrade.encode.crf=[40, 20]", "config.degrade.encode.crf: Value error, a range [lo, hi] with "
                                    "0 <= lo <= hi <= 51, got [40, 20]"),
    ("degrade.rescale.factor=[0.5, 1.5]", "config.degrade.rescale.factor: Value error, a range"),
    ("degrade.jpeg.p=1.5", "config.degrade.jpeg.p: Input should be less than or equal to 1"),
    ("degrade.encode.codecs=[av1]", "config.degrade.encode.codecs.0: Input should be 'h264', 'hevc' or"),
    ("degrade.blur={p: 1}", "config.degrade.blur: Extra inputs are not permitted"),
])
def test_config_validation_names_a_bad_range(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config("smoke", [override])
    assert message in str(raised.value)
