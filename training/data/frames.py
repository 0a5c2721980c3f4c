"""Seeded frame sampling with PyAV: N frames spread uniformly over a clip.

Frames are decoded with ``thread_type="AUTO"``; only the sampled frames are converted,
each decoded ``av.VideoFrame`` handed to a converter: the whole frame, which swscale
converts to RGB and scales straight to the requested size
(``frame.to_ndarray(width=, height=, format="rgb24")``, as the service's decoder does), or
with ``faces`` (``training.data.faces.FaceSampler``) the face crop the service would cut.
A converter may skip a frame (no face in it), so face sampling can return fewer frames.
With a ``degradation`` (``training.degrade``) the clip's frames go through it first, so the
sampled frames are those of the degraded clip, as the service would decode them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import av
import numpy as np

from app.video.conversion import PixelsAt
from training.data.sample import IMAGE_EXTENSIONS, DatasetError
from training.degrade import Degradation, degraded_frames
from training.degrade.apply import clip_fps

if TYPE_CHECKING:
    from training.data.faces import FaceSampler

Size = tuple[int, int]  # (width, height), as in "WxH"
Converter = Callable[[av.VideoFrame], np.ndarray | None]  # RGB uint8 (H, W, 3), None: skip


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


def sample_frames(path: str | Path, n: int, size: Size | int | None, seed: int | None = 0,
                  faces: FaceSampler | None = None, degradation: Degradation = ()) -> np.ndarray:
    """``n`` RGB frames (uint8, n x H x W x 3) of a video, uniform over the clip.

    ``size`` is (width, height), an int for a square, or None for the native size.
    An image yields one frame (1 x H x W x 3) whatever ``n`` is. With ``faces`` each
    sampled frame gives its best face's crop at ``size`` (an int) or nothing, so fewer
    than ``n`` frames (possibly none) may come back. A ``degradation`` applies to videos;
    an image is read as it is.
    """
    path = Path(path)
    convert = faces.converter(size) if faces is not None else whole_frame(size)
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return _stack(_read_image(path, convert), size)
    try:
        total = count_frames(path)
        indices = frame_indices(total, n, seed)
        frames, decoded = _decode_at(path, indices, convert, degradation)
        if decoded <= indices[-1]:  # the header promised more frames than decode gave
            if decoded == 0:
                raise FrameError(f"{path}: no frame could be decoded")
            frames, _ = _decode_at(path, frame_indices(decoded, n, seed), convert, degradation)
    except av.error.FFmpegError as exc:
        raise FrameError(f"{path}: cannot decode: {exc}") from None
    return _stack(frames, size)


def whole_frame(size: Size | int | None) -> Converter:
    """The converter of whole frames at ``size`` (see ``sample_frames``)."""
    return PixelsAt(_wh(size)).convert  # the service's conversion


def read_image(path: str | Path, size: Size | int | None = None) -> np.ndarray:
    """One image file as RGB uint8 (H x W x 3), decoded and scaled with PyAV."""
    return _read_image(Path(path), whole_frame(size))[0]


def _read_image(path: Path, convert: Converter) -> list[np.ndarray]:
    """The converted first frame of an image file (none if the converter skips it)."""
    try:
        with av.open(str(path)) as container:
            stream = _video_stream(container, path)
            for frame in container.decode(stream):
                pixels = convert(frame)
                return [] if pixels is None else [pixels]
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


def _decode_at(path: Path, indices: np.ndarray, convert: Converter, degradation: Degradation
               ) -> tuple[list[np.ndarray], int]:
    """Converted frames at ``indices`` (repeats allowed; frames ``convert`` skips left out)
    of the clip after ``degradation``, and how many frames were decoded."""
    wanted = np.bincount(indices)
    out: list[np.ndarray] = []
    index = 0
    with av.open(str(path)) as container:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        frames = degraded_frames(container.decode(stream), degradation, clip_fps(stream))
        for frame in frames:  # decode() flushes the decoder's delayed frames at the end
            if index >= len(wanted):
                break
            if wanted[index]:
                pixels = convert(frame)
                if pixels is not None:
                    out.extend([pixels] * int(wanted[index]))
            index += 1
    return out, index


def _video_stream(container: av.container.InputContainer, path: Path) -> av.VideoStream:
    if not container.streams.video:
        raise FrameError(f"{path}: no video stream")
    return container.streams.video[0]


def _stack(frames: list[np.ndarray], size: Size | int | None) -> np.ndarray:
    """(N, H, W, 3) uint8; no frames (every one skipped) at ``size`` gives (0, H, W, 3)."""
    if frames:
        return np.stack(frames)
    width, height = _wh(size)
    return np.zeros((0, height or 0, width or 0, 3), np.uint8)


def _wh(size: Size | int | None) -> tuple[int | None, int | None]:
    if size is None:
        return None, None
    width, height = (size, size) if isinstance(size, int) else size
    if width < 1 or height < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    return int(width), int(height)
