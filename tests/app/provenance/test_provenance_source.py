"""The view credentials are read through: its own position, the decoder's left alone."""

from __future__ import annotations

import io
import tempfile

from app.provenance.source import independent_view


def test_reading_the_view_never_moves_the_files_position() -> None:
    with tempfile.TemporaryFile() as spool:
        spool.write(bytes(range(256)) * 64)
        spool.seek(100)
        with independent_view(spool) as view:
            assert view.read(4) == bytes([0, 1, 2, 3])
            view.seek(-2, io.SEEK_END)
            assert view.read() == bytes([254, 255]) and view.tell() == 256 * 64
            assert spool.tell() == 100 and spool.read(1) == bytes([100])


def test_the_view_outlives_the_file_it_was_taken_from() -> None:
    with tempfile.TemporaryFile() as spool:
        spool.write(b"credentials")
        spool.seek(0)
        view = independent_view(spool)
    with view:
        assert view.read() == b"credentials"


def test_a_spooled_upload_still_in_memory_is_moved_to_its_file_first() -> None:
    with tempfile.SpooledTemporaryFile(max_size=1 << 20) as spool:
        spool.write(b"small upload")
        spool.seek(0)
        with independent_view(spool) as view:
            assert view.read() == b"small upload"
        assert spool.read() == b"small upload"


def test_an_in_memory_buffer_is_read_from_a_copy() -> None:
    buffer = io.BytesIO(b"in memory")
    buffer.seek(3)
    with independent_view(buffer) as view:
        assert view.read() == b"in memory"
    assert buffer.tell() == 3
