"""A view of an upload with a position of its own, so that reading its credentials never
moves the offset the decoder reads at (the decoder worker shares the file's descriptor)."""

from __future__ import annotations

import io
import os
from typing import BinaryIO


class _Positional(io.RawIOBase):
    """Reads a duplicate of a descriptor with pread: its own position, and the file stays
    open until this view is closed, whatever happens to the request's file meanwhile."""

    def __init__(self, fd: int) -> None:
        self._fd, self._position = os.dup(fd), 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = os.pread(self._fd, len(buffer), self._position)
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: os.fstat(self._fd).st_size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


def independent_view(source: BinaryIO) -> BinaryIO:
    """The bytes of `source` (a file, or an in-memory buffer) behind a position of their own.
    Call it before decoding starts: a spooled upload still in memory is moved to its file."""
    try:
        fd = source.fileno()
    except (OSError, io.UnsupportedOperation):
        return io.BytesIO(source.getvalue())  # type: ignore[attr-defined]
    return io.BufferedReader(_Positional(fd), 1 << 16)
