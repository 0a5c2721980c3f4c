"""Seeded frame sampling with PyAV: N frames spread uniformly over a clip.

Frames are decoded with ``thread_type="AUTO"``; only the sampled frames are converted,
and swscale converts them to RGB and scales them straight to the requested size
(``frame.reformat(width, height, format="rgb24")``), as the service does.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from training.data.sample import IMAGE_EXTENSIONS, DatasetError

Size = tuple[int, int]  # (width, height), as in "WxH"


class FrameError(DatasetError):
    """A file that cannot be decoded into frames (names the file and the reason)."""


def frame_indices(total: int, n: int, seed: int | None) -> np.ndarray:
    """``n`` sorted indices in ``[0, total)``: one per equal bin, jittered within it.

    With ``seed=None`` each bin's centre; with a seed a uniform draw inside each bin.
    When ``n > total`` indices repeat (every frame is used, some twice).
    """
    if total < 1 or n < 1:
        raise ValueError(f"need total >= 1 and n >= 1, got total={total}, n={n}")
    edges = np.linspace(0.0, total, n + 1)
    if seed is None:
        points = (edges[:-1] + edges[1:]) / 2
    else:
        points = np.random.default_rng(seed).uniform(edges[:-1], edges[1:])
    return np.clip(np.floor(points).astype(np.int64), 0, total - 1)


def sample_frames(path: str | Path, n: int, size: Size | int | None, seed: int | None = 0
                  ) -> np.ndarray:
    """``n`` RGB frames (uint8, n x H x W x 3) of a video, uniform over the clip.

    ``size`` is (width, height), an int for a square, or None for the native size.
    An image yields one frame (1 x H x W x 3) whatever ``n`` is.
    """
    path = Path(path)
    width, height = _wh(size)
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return read_image(path, size)[None]
    try:
        total = count_frames(path)
        frames, decoded = _decode_at(path, frame_indices(total, n, seed), width, height)
        if len(frames) < n:  # the header promised more frames than decode gave
            if decoded == 0:
                raise FrameError(f"{path}: no frame could be decoded")
            frames, _ = _decode_at(path, frame_indices(decoded, n, seed), width, height)
    except av.error.FFmpegError as exc:
        raise FrameError(f"{path}: cannot decode: {exc}") from None
    return np.stack(frames)


def read_image(path: str | Path, size: Size | int | None = None) -> np.ndarray:
    """One image file as RGB uint8 (H x W x 3), decoded and scaled with PyAV."""
    width, height = _wh(size)
    try:
        with av.open(str(path)) as container:
            stream = _video_stream(container, Path(path))
            for frame in container.decode(stream):
                return frame.reformat(width, height, format="rgb24").to_ndarray()
    except av.error.FFmpegError as exc:
        raise FrameError(f"{path}: cannot decode: {exc}") from None
    raise FrameError(f"{path}: no frame could be decoded")


def count_frames(path: str | Path) -> int:
    """Frames in the first video stream: the header's count, else demuxed packets."""
    with av.open(str(path)) as container:
        stream = _video_stream(container, Path(path))
        if stream.frames > 0:
            return stream.frames
        total = sum(1 for packet in container.demux(stream) if packet.size)
    if total == 0:
        raise FrameError(f"{path}: the video stream has no packets")
    return total


def _decode_at(path: Path, indices: np.ndarray, width: int | None, height: int | None
               ) -> tuple[list[np.ndarray], int]:
    """Frames at ``indices`` (repeats allowed) and how many frames were decoded."""
    wanted = np.bincount(indices)
    out: list[np.ndarray] = []
    index = 0
    with av.open(str(path)) as container:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        # demux() ends with an empty packet whose decode() flushes delayed frames.
        for packet in container.demux(stream):
            for frame in packet.decode():
                if index < len(wanted) and wanted[index]:
                    rgb = frame.reformat(width, height, format="rgb24").to_ndarray()
                    out.extend([rgb] * int(wanted[index]))
                index += 1
            if index >= len(wanted):
                break
    return out, index


def _video_stream(container: av.container.InputContainer, path: Path) -> av.VideoStream:
    if not container.streams.video:
        raise FrameError(f"{path}: no video stream")
    return container.streams.video[0]


def _wh(size: Size | int | None) -> tuple[int | None, int | None]:
    if size is None:
        return None, None
    width, height = (size, size) if isinstance(size, int) else size
    if width < 1 or height < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    return int(width), int(height)
