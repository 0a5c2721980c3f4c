"""Inputs that arrive piece by piece: a byte stream fed in chunks, and single encoded images."""

from __future__ import annotations

import io
import threading
from collections import deque
from typing import TypeVar

import av
import av.error

from app.errors import BadFrame
from app.video.conversion import Conversions

T = TypeVar("T")
IMAGE_FORMATS = frozenset({"png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe"})


class BytePipe(io.RawIOBase):
    """A blocking, read-only file for a demuxer thread, fed chunk by chunk from elsewhere.

    `feed` adds a chunk, blocking while `max_bytes` wait unread (memory stays bounded);
    `finish` marks the end of the input; the reader calls `close_reader` when it stops, which
    releases a blocked `feed`. `read` blocks until data or the end arrives.
    """

    def __init__(self, max_bytes: int = 8 * 1024 * 1024) -> None:
        super().__init__()
        self.max_bytes = max_bytes
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._ended = False
        self._reader_gone = False
        self._changed = threading.Condition()
        self._buffer = memoryview(b"")

    def readable(self) -> bool:
        return True

    def feed(self, chunk: bytes) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._size < self.max_bytes or self._reader_gone)
            if not self._reader_gone:
                self._chunks.append(chunk)
                self._size += len(chunk)
                self._changed.notify_all()

    def finish(self) -> None:
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def close_reader(self) -> None:
        with self._changed:
            self._reader_gone = True
            self._chunks.clear()
            self._changed.notify_all()

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        if not self._buffer:
            with self._changed:
                self._changed.wait_for(lambda: self._chunks or self._ended)
                if not self._chunks:
                    return 0
                chunk = self._chunks.popleft()
                self._size -= len(chunk)
                self._changed.notify_all()
            self._buffer = memoryview(chunk)
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


def decode_image(data: bytes, conversions: Conversions[T], max_pixels: int) -> T:
    """One encoded still (JPEG, PNG, WebP...) of at most `max_pixels` decoded with PyAV and
    converted by `conversions` for its size."""
    try:
        with av.open(io.BytesIO(data), mode="r", metadata_errors="replace") as container:
            if container.format.name not in IMAGE_FORMATS or not container.streams.video:
                raise BadFrame(f"not an encoded image ({container.format.name})")
            for frame in container.decode(video=0):
                if frame.width * frame.height > max_pixels:
                    raise BadFrame(f"{frame.width}x{frame.height} = {frame.width * frame.height} pixels "
                                   f"> limit {max_pixels}")
                return conversions.for_size(frame.width, frame.height).convert(frame)
    except (av.error.FFmpegError, OSError) as exc:
        raise BadFrame(f"the image does not decode: {exc}") from exc
    raise BadFrame("the image holds no frame")
