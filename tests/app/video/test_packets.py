"""Live streams decode only the packets they need: `fps` below the stream's rate screens the
frames of the exact slot rule (checked against an independent decode of every frame), and
a stream that skips on overload skips whole GOPs, with every frame counted."""

from __future__ import annotations

import io
import math
from pathlib import Path

import av
import numpy as np
import pytest

from app.config import VIDEO_CODECS
from app.video.decode import Limits, SampledFrame, Sampling, VideoReader
from app.video.packets import PacketFeed
from tests.helpers import encode_video

LIMITS = Limits(
    max_pixels=4096 * 4096, max_duration_s=math.inf, timeout_s=30, allowed_codecs=frozenset(VIDEO_CODECS)
)
SIZE = (32, 24)
GOP = {"g": "12", "keyint_min": "12"}  # a keyframe every 12 frames (0.5 s at 24 fps)
STREAMS = {  # name: (file, demuxer, encoder options)
    "h264": ("clip.h264", "h264", GOP | {"bf": "0"}),
    "mpegts": ("clip.ts", "mpegts", GOP | {"bf": "0"}),
    "mpegts-bframes": ("clip.ts", "mpegts", GOP | {"bf": "3"}),
}


class LiveSource(io.RawIOBase):
    """Bytes that cannot be rewound, as a live stream's are."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        return self._data.readinto(target)


def every_frame(data: bytes, demuxer: str) -> list[tuple[float, np.ndarray]]:
    """An independent decode of every frame: times (by count where frames carry none) and pixels."""
    with av.open(io.BytesIO(data), format=demuxer) as container:
        stream = container.streams.video[0]
        rate = float(stream.guessed_rate)
        return [
            (float(f.time) if f.time is not None else n / rate, f.to_ndarray(width=SIZE[0], height=SIZE[1],
                                                                          format="rgb24"))
            for n, f in enumerate(container.decode(stream))
        ]


def slot_rule(times: list[float], fps: float) -> list[int]:
    """The positions the exact fps rule takes: the first frame of each 1/fps slot from the first."""
    taken, last = [], None
    for n, t in enumerate(times):
        slot = math.floor((t - times[0]) * fps + 1e-6)
        if slot != last:
            taken.append(n)
            last = slot
    return taken


def live(data: bytes, demuxer: str, sampling: Sampling) -> tuple[list[SampledFrame], int, int]:
    with VideoReader(LiveSource(data), LIMITS, format=demuxer) as reader:
        assert reader.live
        frames = list(reader.frames(sampling, SIZE, "rgb24", check_complete=False))
        return frames, reader.frames_decoded, reader.frames_skipped


@pytest.mark.parametrize("fps", [0.5, 1.0, 2.5, 7.0])
@pytest.mark.parametrize("name", STREAMS)
def test_fps_on_a_live_stream_screens_the_frames_of_the_exact_rule(
    name: str, fps: float, tmp_path: Path
) -> None:
    filename, demuxer, options = STREAMS[name]
    data = encode_video(tmp_path / filename, frames=72, options=options).read_bytes()
    expected = every_frame(data, demuxer)
    times = [t for t, _ in expected]
    frames, decoded, skipped = live(data, demuxer, Sampling(max_frames=1000, fps=fps))
    taken = slot_rule(times, fps)
    assert [f.time_s for f in frames] == pytest.approx([times[n] for n in taken])
    start = times[0]
    assert [f.index for f in frames] == [round((times[n] - start) * 24) for n in taken]
    for frame, n in zip(frames, taken, strict=True):
        np.testing.assert_array_equal(frame.pixels, expected[n][1])
    assert decoded + skipped == len(expected)  # every frame decoded or counted
    if name == "mpegts-bframes":  # frames out of order: decoded through
        assert skipped == 0
    elif fps <= 1:  # the tail of each group of pictures after its wanted frame is not decoded
        assert decoded < len(expected) * 0.6


class LiveArrivals:
    """A live stream at 24 fps read by a consumer that takes `cost_s` a frame, without a wall
    clock: the feed asks its lag once per packet, and packet k cannot be read before it
    arrives, at k / 24 s."""

    def __init__(self, cost_s: float) -> None:
        self.now = 0.0
        self.cost_s = cost_s
        self.arrived = 0.0
        self._packets = 0

    def lag(self) -> float:
        self.arrived = self._packets / 24
        self.now = max(self.now, self.arrived)
        self._packets += 1
        return self.now - self.arrived


@pytest.mark.parametrize("name", ["h264", "mpegts"])
def test_a_stream_that_falls_behind_skips_to_a_keyframe_on_time(name: str, tmp_path: Path) -> None:
    filename, demuxer, options = STREAMS[name]
    data = encode_video(tmp_path / filename, frames=96, options=options).read_bytes()
    expected = every_frame(data, demuxer)
    start = expected[0][0]
    clock = LiveArrivals(cost_s=0.1)  # 2.4x slower than the stream's 24 fps
    bound = 0.15
    lags: list[float] = []
    with av.open(LiveSource(data), format=demuxer) as container:
        stream = container.streams.video[0]
        stream.thread_type = "SLICE"
        feed = PacketFeed(container, stream, 24.0, arrivals=clock, max_lag_s=bound)
        screened = []
        for frame, t, _ in feed.frames():
            lags.append(clock.now - (t - start))
            screened.append((round((t - start) * 24), frame.to_ndarray(width=SIZE[0], height=SIZE[1],
                                                                      format="rgb24")))
            clock.now += clock.cost_s
    indices = [i for i, _ in screened]
    assert len(indices) + feed.skipped == len(expected)  # nothing lost silently
    assert feed.skipped > len(expected) / 2
    assert len(indices) == len(set(indices)) and indices == sorted(indices)
    runs = [i for k, i in enumerate(indices) if k == 0 or i != indices[k - 1] + 1]
    assert all(i % 12 == 0 for i in runs)  # each run of frames starts at a keyframe
    assert len(runs) >= 6  # and screening resumes in most groups of pictures
    assert max(lags) <= bound + clock.cost_s  # decoded within the bound (+ one frame)
    for index, pixels in screened:
        np.testing.assert_array_equal(pixels, expected[index][1])


def test_without_a_lag_bound_a_slow_consumer_gets_every_frame(tmp_path: Path) -> None:
    data = encode_video(tmp_path / "clip.h264", frames=48, options=GOP).read_bytes()
    frames, decoded, skipped = live(data, "h264", Sampling(max_frames=1000))
    assert ([f.index for f in frames], decoded, skipped) == (list(range(48)), 48, 0)
    assert [f.time_s for f in frames[:2]] == pytest.approx([0.0, 1 / 24])
