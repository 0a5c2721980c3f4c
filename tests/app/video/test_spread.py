"""frames=N: N times evenly spread over the video, and for each the first frame at or after
it, reached by seeking where keyframes allow; every answer is checked against an
independent frame-exact decode (index, time and pixels)."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest

from app.config import VIDEO_CODECS
from app.errors import InvalidOptions
from app.video.decode import Limits, SampledFrame, Sampling, VideoReader
from tests.helpers import encode_video

LIMITS = Limits(
    max_pixels=4096 * 4096, max_duration_s=60, timeout_s=30, allowed_codecs=frozenset(VIDEO_CODECS)
)
SIZE = (32, 24)
GOP = {"g": "24", "keyint_min": "24"}  # a keyframe a second, as phones record
CLIPS = {
    "mp4-h264-1s-gop": ("clip.mp4", {"options": GOP}),
    "mp4-h264-x264-defaults": ("default.mp4", {}),
    "webm-vp9": ("clip.webm", {"codec": "libvpx-vp9", "options": {"g": "24", "deadline": "realtime"}}),
    "avi-mpeg4": ("clip.avi", {"codec": "mpeg4", "options": {"g": "24"}}),
    "ts-h264": ("clip.ts", {"options": GOP}),
}


def exact(path: Path) -> list[tuple[float, np.ndarray]]:
    """Every frame's time and pixels, decoded in order."""
    with av.open(str(path)) as container:
        return [(float(f.time), f.to_ndarray(width=SIZE[0], height=SIZE[1], format="rgb24"))
                for f in container.decode(video=0)]


def spread(path: Path, sampling: Sampling) -> tuple[list[SampledFrame], int]:
    with path.open("rb") as source, VideoReader(source, LIMITS) as reader:
        return list(reader.frames(sampling, SIZE, "rgb24")), reader.frames_decoded


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("spread")
    return {name: encode_video(root / file, frames=240, **kwargs) for name, (file, kwargs) in CLIPS.items()}


@pytest.mark.parametrize("clip", CLIPS)
@pytest.mark.parametrize(("count", "start_s"), [(5, 0.0), (32, 0.0), (3, 4.0)])
def test_each_frame_is_the_first_at_or_after_its_time(
    clips: dict[str, Path], clip: str, count: int, start_s: float
) -> None:
    path = clips[clip]
    every = exact(path)
    frames, decoded = spread(path, Sampling(max_frames=100, frames=count, start_s=start_s))
    # times are the file's own (time_s): an MPEG-TS starts a little after 0
    first, end = max(start_s, every[0][0]), every[0][0] + 10.0
    targets = [first + (end - first) * k / count for k in range(count)]
    wanted = [next(i for i, (t, _) in enumerate(every) if t >= target - 1 / 48) for target in targets]
    assert [f.index for f in frames] == wanted  # one each, none twice, the right one
    for frame, index in zip(frames, wanted, strict=True):
        assert frame.time_s == pytest.approx(every[index][0])
        np.testing.assert_array_equal(frame.pixels, every[index][1])
    assert decoded <= len(every)


def test_a_second_gop_is_reached_by_seeking_not_decoding_through(clips: dict[str, Path]) -> None:
    _, decoded = spread(clips["mp4-h264-1s-gop"], Sampling(max_frames=100, frames=5))
    assert decoded < 240 / 4  # 5 frames, each at most a GOP's decoding away


def test_a_live_stream_cannot_be_spread(clips: dict[str, Path]) -> None:
    class Live(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
            return self.data.readinto(target)

    with VideoReader(Live(clips["ts-h264"].read_bytes()), LIMITS) as reader, pytest.raises(
        InvalidOptions, match="duration"
    ):
        next(reader.frames(Sampling(max_frames=10, frames=3), SIZE, "rgb24"))


@pytest.mark.parametrize("clip", CLIPS)
@pytest.mark.parametrize("fps", [2.0, 1.0, 0.5, 0.2])
def test_fps_by_seeking_screens_the_frames_of_an_exact_decode(clips: dict[str, Path], clip: str,
                                                              fps: float) -> None:
    """The first frame of each 1/fps slot (from the first frame), as when every frame is
    decoded, however many frames the seeks skip."""
    every = exact(clips[clip])
    origin, wanted, last = every[0][0], [], None
    for i, (t, _) in enumerate(every):
        slot = int((t - origin) * fps + 1e-6)
        if slot != last:
            wanted.append(i)
            last = slot
    frames, decoded = spread(clips[clip], Sampling(max_frames=100, fps=fps))
    assert [f.index for f in frames] == wanted
    for frame, index in zip(frames, wanted, strict=True):
        np.testing.assert_array_equal(frame.pixels, every[index][1])
    if clip == "mp4-h264-1s-gop" and fps <= 1:  # slots as long as a GOP: seeks, not decoding through
        assert decoded <= 4 * len(wanted)
