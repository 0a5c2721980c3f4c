from collections import Counter

import av
import numpy as np
import pytest

from training.data import crossing_groups, load_dataset, sample_frames
from training.data.synth import FAMILIES, Ranges, generate, plan_clips

TINY = {"n_videos": 6, "seed": 11, "size": (64, 48), "frames": 6, "progress": False}


@pytest.fixture(scope="module")
def tiny_sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    summaries = [generate(root / name, **TINY) for name in ("a", "b")]
    return root, summaries


def _slices_per_frame(path) -> list[int]:
    """Coded-slice NAL units in each packet (mp4 stores H.264 length-prefixed)."""
    out = []
    with av.open(str(path)) as container:
        for packet in container.demux(container.streams.video[0]):
            data, i, slices = bytes(packet), 0, 0
            while i + 4 <= len(data):
                length = int.from_bytes(data[i:i + 4], "big")
                slices += (data[i + 4] & 0x1F) in (1, 5)
                i += 4 + length
            if packet.size:
                out.append(slices)
    return out


def test_same_seed_same_dataset(tiny_sets):
    root, _ = tiny_sets
    for name in ("manifest.csv", "clips.jsonl", "synth.json"):
        assert (root / "a" / name).read_text() == (root / "b" / name).read_text()
    a, b = load_dataset(root / "a"), load_dataset(root / "b")
    for sa, sb in zip(a, b, strict=True):
        np.testing.assert_array_equal(sample_frames(sa.path, 6, None, None),
                                      sample_frames(sb.path, 6, None, None))


def test_other_seed_other_dataset(tiny_sets, tmp_path):
    root, _ = tiny_sets
    generate(tmp_path, **{**TINY, "seed": 12, "n_videos": 2})
    first = load_dataset(tmp_path)[0].path
    assert not np.array_equal(sample_frames(first, 6, None, None),
                              sample_frames(root / "a" / "videos" / first.name, 6, None, None))


def test_manifest_labels_groups_and_files(tiny_sets):
    root, (summary, _) = tiny_sets
    samples = load_dataset(root / "a")
    assert Counter(s.label for s in samples) == {0: 3, 1: 3}
    assert Counter(s.source for s in samples) == {"synth:authentic": 3, **{
        f"synth:{f}": 1 for f in FAMILIES}}
    assert crossing_groups(samples) == {}
    assert all(s.split in ("train", "val", "test") for s in samples)
    assert all(s.group.startswith(("photo:", "scene:")) for s in samples)
    assert summary.clips == 6 and sum(sum(c.values()) for c in summary.by_split.values()) == 6
    assert "6 clips x 6 frames" in str(summary)
    for sample in samples:
        with av.open(str(sample.path)) as container:
            stream = container.streams.video[0]
            assert (stream.codec_context.name, stream.width, stream.height, stream.frames) == (
                "h264", 64, 48, 6)
        assert set(_slices_per_frame(sample.path)) == {1}  # single slice, like real files


def test_plan_balances_labels_families_and_sources():
    plans = plan_clips(200, seed=4)
    assert sorted(p.index for p in plans) == list(range(200))
    assert Counter(p.label for p in plans) == {0: 100, 1: 100}
    families = Counter(p.family for p in plans if p.label)
    assert set(families) == set(FAMILIES) and max(families.values()) - min(families.values()) <= 1
    by_source = {}
    for p in plans:
        by_source.setdefault(p.source, []).append(p.label)
    assert all(abs(sum(labels) * 2 - len(labels)) <= 1 for labels in by_source.values())
    photos = {p.group for p in plans if p.group.startswith("photo:")}
    assert len(photos) >= 15 and "photo:motorcycle" in photos  # stereo pair: one group
    assert plan_clips(200, seed=4) == plans
    assert plan_clips(200, seed=5) != plans


def test_a_scene_is_a_group_of_its_seed_a_photo_one_of_every_seed():
    def groups(seed: int, kind: str) -> set[str]:
        return {p.group for p in plan_clips(200, seed=seed) if p.group.startswith(kind)}

    assert groups(4, "scene:") and not groups(4, "scene:") & groups(5, "scene:")
    assert groups(4, "photo:") == groups(5, "photo:")


def test_difficulty_moves_every_range():
    easy, hard = Ranges.for_difficulty(0.0), Ranges.for_difficulty(1.0)
    assert easy.strength[0] > hard.strength[0] and easy.strength[1] > hard.strength[1]
    assert easy.crf[1] < hard.crf[1]
    assert easy.edit_under_noise < hard.edit_under_noise and easy.isp < hard.isp
    with pytest.raises(ValueError, match="difficulty must be in"):
        Ranges.for_difficulty(1.5)


@pytest.mark.parametrize("kwargs, match", [
    ({"size": (63, 48)}, "size must be even"),
    ({"n_videos": 0}, "n_videos >= 1"),
    ({"families": ("sbi", "gan")}, r"unknown families \['gan'\]"),
    ({"difficulty": -0.1}, "difficulty must be in"),
    ({"face_fraction": 1.5}, r"face_fraction must be in \[0, 1\]"),
    ({"face_fraction": 0.5}, "face clips need frames of at least 88 px a side"),
])
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate(tmp_path, **{**TINY, **kwargs})


def test_encoder_output_is_byte_identical_run_to_run(tmp_path):
    # 96x64 is where x264's AVX-512 code varied most (44% of encodes); masked off here
    import hashlib

    from training.data.synth.render import RenderConfig, clip_frames
    from training.degrade.encode import encode_video, x264_cpu_mask

    assert x264_cpu_mask() is None or not x264_cpu_mask() & (1 << 16)
    plan = plan_clips(6, 11)[3]
    settings, _, frames = clip_frames(plan, RenderConfig(11, 96, 64, 6, 0.5))
    frames = list(frames)
    digests = set()
    for _ in range(25):
        encode_video(tmp_path / "c.mp4", iter(frames), settings)
        digests.add(hashlib.sha256((tmp_path / "c.mp4").read_bytes()).hexdigest())
    assert len(digests) == 1
