"""Inputs that arrive piece by piece: a byte stream fed in chunks, and single encoded images."""

from __future__ import annotations

import io
import threading
import time
from collections import deque
from typing import TypeVar

import av
import av.error

from app.errors import BadFrame
from app.video.conversion import Conversions

T = TypeVar("T")
IMAGE_FORMATS = frozenset({"png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe"})


class ChunkedSource(io.RawIOBase):
    """A blocking, read-only file over chunks of a live stream, each with the time it arrived
    (`time.monotonic()`): `lag` says how long the data being read has waited."""

    def __init__(self) -> None:
        super().__init__()
        self._buffer = memoryview(b"")
        self._arrived = time.monotonic()

    def readable(self) -> bool:
        return True

    @property
    def arrived(self) -> float:
        """When the chunk being read arrived."""
        return self._arrived

    def lag(self) -> float:
        """Seconds since the chunk being read arrived: ~0 while reading keeps up."""
        return time.monotonic() - self._arrived

    def _next_chunk(self) -> tuple[bytes, float] | None:
        """The next chunk and its arrival, waiting for it; None at the end."""
        raise NotImplementedError

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buffer:
            if (chunk := self._next_chunk()) is None:
                return 0
            data, self._arrived = chunk
            self._buffer = memoryview(data)
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


class BytePipe(ChunkedSource):
    """A live stream fed chunk by chunk from another thread, read by a demuxer thread.

    `feed` adds a chunk, blocking while `max_bytes` wait unread (memory stays bounded);
    `finish` marks the end of the input; the reader calls `close_reader` when it stops, which
    releases a blocked `feed`. Reading blocks until data or the end arrives.
    """

    def __init__(self, max_bytes: int = 8 * 1024 * 1024) -> None:
        super().__init__()
        self.max_bytes = max_bytes
        self._chunks: deque[tuple[bytes, float]] = deque()
        self._size = 0
        self._ended = False
        self._reader_gone = False
        self._changed = threading.Condition()

    def feed(self, chunk: bytes, arrived: float | None = None) -> None:
        """Add a chunk that arrived at `arrived` (default: now)."""
        arrived = time.monotonic() if arrived is None else arrived
        with self._changed:
            self._changed.wait_for(lambda: self._size < self.max_bytes or self._reader_gone)
            if not self._reader_gone:
                self._chunks.append((chunk, arrived))
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

    def _next_chunk(self) -> tuple[bytes, float] | None:
        with self._changed:
            self._changed.wait_for(lambda: self._chunks or self._ended)
            if not self._chunks:
                return None
            chunk = self._chunks.popleft()
            self._size -= len(chunk[0])
            self._changed.notify_all()
            return chunk


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
