"""Decoding in worker processes: the same frames as in the service's process, and a worker
that dies, hangs or runs out of memory costs one job, is replaced, and leaves nothing open."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from app.config import VIDEO_CODECS
from app.contract.card import FaceCrop
from app.errors import DecoderCrashed, DecodeTimeout, NotAVideo
from app.faces.plan import FacePlanner
from app.faces.registry import DETECTORS
from app.metrics import Metrics
from app.video.conversion import Conversions, PixelsAt
from app.video.decode import Limits, SampledFrame, Sampling, VideoReader
from app.video.pool import DecoderPool
from app.video.sources import BytePipe, decode_image
from tests.helpers import encode_video, png_bytes

LIMITS = Limits(
    max_pixels=4096 * 4096, max_duration_s=60, timeout_s=30, allowed_codecs=frozenset(VIDEO_CODECS)
)
ALL = Sampling(max_frames=1000)
MiB = 1024 * 1024


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def pool(metrics: Metrics) -> Iterator[DecoderPool]:
    pool = DecoderPool(2, 2048 * MiB, 60, metrics)
    pool.start()
    yield pool
    pool.stop()


def deaths(metrics: Metrics) -> dict[str, float]:
    return {s.labels["cause"]: s.value for s in metrics.decoder_deaths.collect()[0].samples
            if s.name.endswith("_total")}


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def decoded(pool: DecoderPool | None, path: Path, conversions: Conversions, limits: Limits = LIMITS,
            sampling: Sampling = ALL) -> list[SampledFrame]:
    with path.open("rb") as source:
        reader = VideoReader(source, limits) if pool is None else pool.open(source, limits)
        with reader:
            return list(reader.converted(sampling, conversions))


def assert_same(ours: list[SampledFrame], theirs: list[SampledFrame]) -> None:
    assert [(f.index, f.time_s) for f in ours] == [(f.index, f.time_s) for f in theirs]
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a.pixels, b.pixels)


def test_a_worker_decodes_what_the_service_process_decodes(
    pool: DecoderPool, videos: dict[str, Path]
) -> None:
    samplings = (ALL, Sampling(max_frames=7, every_n=3), Sampling(max_frames=100, fps=5, start_s=0.5))
    for path in videos.values():
        for sampling in samplings:
            conversions = PixelsAt((48, 32), "bgr24")
            assert_same(decoded(pool, path, conversions, sampling=sampling),
                        decoded(None, path, conversions, sampling=sampling))
    assert len(pool.pids(busy=False)) == 2 and not pool.pids(busy=True)


def test_face_views_cross_from_a_worker_whole(pool: DecoderPool, tmp_path: Path) -> None:
    """A face plan travels to the worker, and each frame's detector inputs and crop frame back."""
    crop = FaceCrop(kind="face", detector="blazeface_full_range", size=64, min_face_px=40)
    planner = FacePlanner(crop, DETECTORS[crop.detector], max_side=960)
    clip = encode_video(tmp_path / "hd.mp4", frames=6, size=(1280, 720))
    ours, theirs = decoded(pool, clip, planner), decoded(None, clip, planner)
    assert len(ours[0].pixels.detector_inputs) == 2  # two scales for 40 px faces in 720p
    assert ours[0].pixels.plan == theirs[0].pixels.plan
    for a, b in zip(ours, theirs, strict=True):
        for x, y in zip(a.pixels.detector_inputs + (a.pixels.crop_frame,),
                        b.pixels.detector_inputs + (b.pixels.crop_frame,), strict=True):
            np.testing.assert_array_equal(x, y)


def test_a_live_stream_is_decoded_as_its_bytes_arrive(pool: DecoderPool, tmp_path: Path) -> None:
    clip = encode_video(tmp_path / "live.ts", frames=30)
    pipe = BytePipe(max_bytes=4096)  # the feeder waits on the worker: memory stays bounded
    data = clip.read_bytes()

    def feed() -> None:
        for start in range(0, len(data), 1000):
            pipe.feed(data[start : start + 1000])
        pipe.finish()

    feeder = threading.Thread(target=feed)
    feeder.start()
    live = Limits(LIMITS.max_pixels, float("inf"), float("inf"), LIMITS.allowed_codecs)
    with pool.open(pipe, live) as reader:
        frames = list(reader.converted(ALL, PixelsAt((32, 24)), check_complete=False))
    feeder.join()
    assert_same(frames, decoded(None, clip, PixelsAt((32, 24))))


@pytest.mark.parametrize("through_worker", [False, True])
@pytest.mark.parametrize(("waited_s", "screened"), [(0.0, 48), (60.0, 0)])
def test_a_skipping_stream_judges_its_lag_by_when_its_bytes_arrived(
    pool: DecoderPool, through_worker: bool, waited_s: float, screened: int, tmp_path: Path
) -> None:
    """Bytes that arrived a minute ago are a minute late: with a lag bound all of them are
    skipped (and counted); bytes that just arrived are all decoded. Arrival times cross to
    the worker with the chunks."""
    data = encode_video(tmp_path / "live.ts", frames=48).read_bytes()
    pipe = BytePipe()
    for start in range(0, len(data), 4096):
        pipe.feed(data[start : start + 4096], time.monotonic() - waited_s)
    pipe.finish()
    live = Limits(LIMITS.max_pixels, float("inf"), float("inf"), LIMITS.allowed_codecs)
    sampling = Sampling(max_frames=1000, max_lag_s=30.0)
    with pool.open(pipe, live) if through_worker else VideoReader(pipe, live) as reader:
        frames = list(reader.converted(sampling, PixelsAt((32, 24)), check_complete=False))
        assert (len(frames), reader.frames_decoded + reader.frames_skipped) == (screened, 48)


def test_images_and_in_memory_uploads(pool: DecoderPool, videos: dict[str, Path]) -> None:
    conversions = PixelsAt((20, 10))
    np.testing.assert_array_equal(pool.image(png_bytes(), conversions, 10**6),
                                  decode_image(png_bytes(), conversions, 10**6))
    with pool.open(io.BytesIO(videos["h264"].read_bytes()), LIMITS) as reader:  # no descriptor: copied
        assert len(list(reader.converted(ALL, conversions))) == 48


def test_bad_input_is_refused_and_the_worker_serves_again(pool: DecoderPool, metrics: Metrics) -> None:
    idle = sorted(pool.pids(busy=False))
    with pytest.raises(NotAVideo):
        pool.open(io.BytesIO(b"not a video " * 100), LIMITS)
    assert sorted(pool.pids(busy=False)) == idle and deaths(metrics) == {}


def test_a_killed_worker_costs_its_job_only(pool: DecoderPool, metrics: Metrics, tmp_path: Path) -> None:
    clip = encode_video(tmp_path / "long.mp4", frames=240)
    fds = open_fds()
    with clip.open("rb") as source, pool.open(source, LIMITS) as reader:
        frames = reader.converted(ALL, PixelsAt((32, 24)))
        next(frames)
        [busy] = pool.pids(busy=True)
        os.kill(busy, signal.SIGKILL)
        with pytest.raises(DecoderCrashed, match="sigkill"):
            list(frames)
    assert deaths(metrics) == {"sigkill": 1.0}
    assert busy not in pool.pids(busy=False) and len(pool.pids(busy=False)) == 2  # replaced
    assert len(decoded(pool, clip, PixelsAt((32, 24)))) == 240  # the next job succeeds
    assert open_fds() == fds


def test_a_hung_worker_is_killed_at_the_decode_time_limit(pool: DecoderPool, metrics: Metrics,
                                                          tmp_path: Path) -> None:
    clip = encode_video(tmp_path / "long.mp4", frames=240)
    limits = Limits(LIMITS.max_pixels, LIMITS.max_duration_s, 0.5, LIMITS.allowed_codecs)
    with clip.open("rb") as source, pool.open(source, limits) as reader:
        frames = reader.converted(ALL, PixelsAt((32, 24)))
        next(frames)
        [busy] = pool.pids(busy=True)
        os.kill(busy, signal.SIGSTOP)  # as a decoder stuck inside FFmpeg: no answer, ever
        with pytest.raises(DecodeTimeout, match="stopped"):
            list(frames)
    assert deaths(metrics) == {"timeout": 1.0}
    assert busy not in pool.pids(busy=False) and len(decoded(pool, clip, PixelsAt((32, 24)))) == 240


def test_a_decompression_bomb_stays_inside_the_memory_limit(metrics: Metrics, tmp_path: Path) -> None:
    """Two 8192 x 8192 frames (200 kB of H.264): a worker limited to 512 MiB of address space
    cannot hold their pictures; it ends, and the next job gets a fresh one. 2 GiB decodes it."""
    bomb = tmp_path / "bomb.mkv"
    with av.open(str(bomb), "w") as container:
        stream = container.add_stream("libx264", rate=24, options={"preset": "ultrafast"})
        stream.width = stream.height = 8192
        black = av.VideoFrame.from_ndarray(np.zeros((8192, 8192, 3), np.uint8), format="rgb24")
        for _ in range(2):
            container.mux(stream.encode(black))
        container.mux(stream.encode())
    limits = Limits(8192 * 8192, 60, 30, LIMITS.allowed_codecs)
    for memory, decodes in ((512 * MiB, False), (2048 * MiB, True)):
        pool = DecoderPool(1, memory, 60, metrics)
        pool.start()
        try:
            if decodes:
                assert len(decoded(pool, bomb, PixelsAt((32, 32)), limits)) == 2
            else:
                with pytest.raises(DecoderCrashed, match="memory_limit"):
                    decoded(pool, bomb, PixelsAt((32, 32)), limits)
                assert deaths(metrics) == {"memory_limit": 1.0}
                assert len(decoded(pool, encode_video(tmp_path / "next.mp4"), PixelsAt((32, 32)))) == 48
        finally:
            pool.stop()


def test_the_cpu_limit_ends_a_spinning_process() -> None:
    """The worker's per-job CPU limit (RLIMIT_CPU) ends a process that spins past it."""
    spin = "from app.video.worker import _limit_cpu\n_limit_cpu(1)\nwhile True: pass"
    done = subprocess.run([sys.executable, "-c", spin], timeout=30, check=False)
    assert done.returncode == -signal.SIGXCPU


def test_a_worker_never_imports_onnx_runtime(pool: DecoderPool, videos: dict[str, Path]) -> None:
    decoded(pool, videos["h264"], PixelsAt((8, 8)))
    for pid in pool.pids(busy=False):
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert "onnxruntime" not in maps and "libavcodec" in maps
