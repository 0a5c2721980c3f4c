"""One local Ray per module (2 CPUs, as CI has), and a small corpus of real clips with
broken, hostile and non-video files among them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import encode_gif, encode_video, png_bytes, wav_bytes

# What the service answers for each non-video file (the corpus test checks it, too).
BROKEN = {"truncated.mp4": "corrupt_video", "notes.txt": "not_a_video", "still.png": "not_a_video",
          "empty.mp4": "empty_body", "tone.wav": "no_video_stream"}


@pytest.fixture(scope="module")
def local_ray() -> Iterator[str]:
    """A local Ray for the module's runs; its address, for drivers in other processes."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """22 files: H.264, VP9, MPEG-4 and GIF clips (one in a subfolder), and 5 that are not
    videos or are broken; a hidden file, which folders skip."""
    root = tmp_path_factory.mktemp("corpus")
    (root / "more").mkdir()
    for i in range(11):
        encode_video(root / f"clip{i:02d}.mp4", frames=12 + 2 * i, seed=i)
    encode_video(root / "more" / "deep.mp4", frames=16, seed=20)
    encode_video(root / "wide.mp4", frames=10, size=(192, 108), seed=21)
    for i in range(2):
        encode_video(root / f"vp9-{i}.webm", frames=14, codec="libvpx-vp9", options={"deadline": "realtime"},
                     seed=30 + i)
    encode_video(root / "old.avi", frames=12, codec="mpeg4", seed=40)
    encode_gif(root / "anim.gif")
    (root / "truncated.mp4").write_bytes((root / "clip10.mp4").read_bytes()[:2500])
    (root / "notes.txt").write_text("not a video at all\n")
    (root / "still.png").write_bytes(png_bytes())
    (root / "empty.mp4").write_bytes(b"")
    (root / "tone.wav").write_bytes(wav_bytes())
    (root / ".hidden.mp4").write_bytes(b"skipped")
    return root
