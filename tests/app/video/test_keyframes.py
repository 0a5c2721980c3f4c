"""Keyframes mode: the decoder skips every other frame (`skip_frame = NONKEY`), and what it
screens is exactly the keyframes of an independent, frame-exact decode: same indices, times
and pixels."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from app.config import VIDEO_CODECS
from app.video.decode import Limits, SampledFrame, Sampling, VideoReader
from tests.helpers import encode_video

LIMITS = Limits(
    max_pixels=4096 * 4096, max_duration_s=60, timeout_s=30, allowed_codecs=frozenset(VIDEO_CODECS)
)
SIZE = (32, 24)
CLIPS = {  # a keyframe every 12 frames (0.5 s)
    "mp4-h264": ("clip.mp4", {"codec": "libx264", "options": {"g": "12", "keyint_min": "12"}}),
    "webm-vp9": ("clip.webm", {"codec": "libvpx-vp9", "options": {"g": "12", "deadline": "realtime"}}),
    "avi-mpeg4": ("clip.avi", {"codec": "mpeg4", "options": {"g": "12"}}),
    "ts-h264": ("clip.ts", {"codec": "libx264", "options": {"g": "12", "keyint_min": "12"}}),
}


def exact_keyframes(path: Path) -> list[tuple[int, float, np.ndarray]]:
    """Every frame decoded, in order; the keyframes' indices, times and pixels."""
    with av.open(str(path)) as container:
        return [(i, float(f.time), f.to_ndarray(width=SIZE[0], height=SIZE[1], format="rgb24"))
                for i, f in enumerate(container.decode(video=0)) if f.key_frame]


def keyframes(path: Path, sampling: Sampling) -> tuple[list[SampledFrame], int]:
    with path.open("rb") as source, VideoReader(source, LIMITS) as reader:
        return list(reader.frames(sampling, SIZE, "rgb24")), reader.frames_decoded


@pytest.mark.parametrize("clip", CLIPS)
def test_keyframes_mode_screens_exactly_the_keyframes(clip: str, tmp_path: Path) -> None:
    name, kwargs = CLIPS[clip]
    path = encode_video(tmp_path / name, frames=60, **kwargs)
    expected = exact_keyframes(path)
    assert len(expected) == 5  # the clip has the keyframes it was made with
    frames, decoded = keyframes(path, Sampling(max_frames=1000, keyframes=True))
    assert decoded == len(expected)  # the other frames were not decoded
    assert [f.index for f in frames] == [i for i, _, _ in expected]
    assert [f.time_s for f in frames] == pytest.approx([t for _, t, _ in expected])
    for frame, (_, _, pixels) in zip(frames, expected, strict=True):
        np.testing.assert_array_equal(frame.pixels, pixels)


def test_keyframes_after_a_seek_keep_their_indices(tmp_path: Path) -> None:
    path = encode_video(tmp_path / "clip.mp4", frames=60, options={"g": "12", "keyint_min": "12"})
    frames, _ = keyframes(path, Sampling(max_frames=1000, keyframes=True, start_s=1.0))
    assert [f.index for f in frames] == [24, 36, 48]
    assert [f.index for f in keyframes(path, Sampling(max_frames=2, keyframes=True))[0]] == [0, 12]
