"""PyAV decoding: frame counts, sampling, limits and the classification of bad files."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest

from app.config import VIDEO_CODECS
from app.errors import (
    CorruptVideo,
    DecodeTimeout,
    NotAVideo,
    NoVideoStream,
    TooManyPixels,
    UnsupportedCodec,
    VideoTooLong,
)
from app.video.decode import Limits, Sampling, VideoReader
from tests.helpers import png_bytes, wav_bytes

LIMITS = Limits(
    max_pixels=4096 * 4096, max_duration_s=60, timeout_s=30, allowed_codecs=frozenset(VIDEO_CODECS)
)


def read(path: Path, sampling: Sampling, limits: Limits = LIMITS) -> tuple[list, VideoReader]:
    with path.open("rb") as source, VideoReader(source, limits) as reader:
        return list(reader.frames(sampling, (32, 24), "rgb24")), reader


@pytest.mark.parametrize(
    ("kind", "container", "codec"),
    [
        ("h264", "mov,mp4,m4a,3gp,3g2,mj2", "h264"),
        ("vp9", "matroska,webm", "vp9"),
        ("mpeg4", "avi", "mpeg4"),
    ],
)
def test_every_frame_is_decoded_including_the_tail(
    videos: dict[str, Path], kind: str, container: str, codec: str
) -> None:
    frames, reader = read(videos[kind], Sampling(max_frames=1000))
    assert reader.info.container == container and reader.info.codec == codec
    assert (reader.info.width, reader.info.height) == (160, 120)
    assert reader.info.fps == pytest.approx(24)
    assert reader.frames_decoded == 48 and len(frames) == 48  # B-frames come out only on flush
    assert [f.index for f in frames] == list(range(48))
    assert frames[-1].time_s == pytest.approx(47 / 24, abs=1e-3)  # WebM keeps milliseconds
    assert frames[0].pixels.shape == (24, 32, 3) and frames[0].pixels.dtype == np.uint8


def test_frames_are_scaled_by_swscale_exactly_like_pyav(videos: dict[str, Path]) -> None:
    frames, _ = read(videos["h264"], Sampling(max_frames=3))
    with av.open(str(videos["h264"])) as container:
        expected = [
            f.to_ndarray(width=32, height=24, format="rgb24")
            for _, f in zip(range(3), container.decode(video=0), strict=False)
        ]
    for got, want in zip(frames, expected, strict=True):
        np.testing.assert_array_equal(got.pixels, want)


@pytest.mark.parametrize(
    ("sampling", "indices"),
    [
        (Sampling(max_frames=100, every_n=10), [0, 10, 20, 30, 40]),
        (Sampling(max_frames=3, every_n=5), [0, 5, 10]),
        (Sampling(max_frames=100, fps=4), [0, 6, 12, 18, 24, 30, 36, 42]),
        (Sampling(max_frames=100, fps=100), list(range(48))),
        (Sampling(max_frames=100, every_n=4, start_s=1.0, end_s=1.5), [24, 28, 32]),
        (Sampling(max_frames=100, end_s=0.25), [0, 1, 2, 3, 4, 5]),
    ],
)
def test_sampling(videos: dict[str, Path], sampling: Sampling, indices: list[int]) -> None:
    frames, _ = read(videos["h264"], sampling)
    assert [f.index for f in frames] == indices
    assert [f.time_s for f in frames] == pytest.approx([i / 24 for i in indices])


def test_stops_decoding_once_max_frames_are_taken(videos: dict[str, Path]) -> None:
    _, reader = read(videos["h264"], Sampling(max_frames=2, every_n=3))
    assert reader.frames_decoded == 4


def _bytes_reader(data: bytes, limits: Limits = LIMITS) -> list:
    with VideoReader(io.BytesIO(data), limits) as reader:
        return list(reader.frames(Sampling(max_frames=1000), (32, 24), "rgb24"))


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (np.random.default_rng(0).bytes(4000), NotAVideo),
        (b"just some text, not a video\n" * 50, NotAVideo),
        (png_bytes(), NotAVideo),
        (wav_bytes(), NoVideoStream),
    ],
)
def test_non_videos_are_classified(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        _bytes_reader(data)


def test_truncated_mp4_with_index_at_the_end_is_corrupt(videos: dict[str, Path]) -> None:
    data = videos["h264"].read_bytes()
    with pytest.raises(CorruptVideo, match="truncated or corrupt"):
        _bytes_reader(data[: len(data) // 2])


def test_truncated_faststart_mp4_is_corrupt(make_video) -> None:
    data = make_video("fast.mp4", container_options={"movflags": "faststart"}).read_bytes()
    with pytest.raises(CorruptVideo):
        _bytes_reader(data[: len(data) // 2])


def test_truncated_webm_is_corrupt(videos: dict[str, Path]) -> None:
    data = videos["vp9"].read_bytes()
    with pytest.raises(CorruptVideo, match="truncated"):
        _bytes_reader(data[: len(data) // 2])


def test_unsupported_codec(make_video) -> None:
    path = make_video("raw.nut", codec="rawvideo", frames=4)
    with pytest.raises(UnsupportedCodec, match="rawvideo"):
        _bytes_reader(path.read_bytes())


def test_limits(videos: dict[str, Path]) -> None:
    data = videos["h264"].read_bytes()
    with pytest.raises(TooManyPixels, match="160x120"):
        _bytes_reader(data, Limits(100 * 100, 60, 30, LIMITS.allowed_codecs))
    with pytest.raises(VideoTooLong, match="2.0 s"):
        _bytes_reader(data, Limits(LIMITS.max_pixels, 1.5, 30, LIMITS.allowed_codecs))
    with pytest.raises(DecodeTimeout):
        _bytes_reader(data, Limits(LIMITS.max_pixels, 60, 1e-9, LIMITS.allowed_codecs))
