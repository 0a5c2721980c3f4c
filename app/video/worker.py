"""A decoder worker process: it demuxes and decodes untrusted bytes with PyAV, one job at a
time, under resource limits, and writes the converted frames into shared memory.

It is started as `python -m app.video.worker SOCKET ACKS MEMORY_BYTES` (`app.video.pool`
does that) and never imports ONNX Runtime. Its jobs and answers (the `Message`s below) go
over SOCKET, a Unix socket to the service; ACKS is a pipe on which the service says that a
frame's slot of shared memory may be written again.

A video job: the service sends `Open` (an upload's file descriptor follows it; a stream's
chunks follow it as `Chunk`s, then None), the worker answers `Opened` (or `Failed`); the
service sends `Decode` with the descriptor of the ring (a memfd of `slots` frames) and the
worker writes frame `seq` into slot `seq % slots` and answers a `Frame` for each, then
`Done` (or `Failed`) once every frame was acknowledged. An image job (`Image`) is answered
with its converted value (`Converted`, pickled: it is one frame) or `Failed`.
"""

from __future__ import annotations

import math
import mmap
import os
import resource
import signal
import socket
import sys
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.reduction import recvfds
from typing import Any, BinaryIO

import numpy as np

from app.errors import ScreenError
from app.video.conversion import Conversion, Conversions, Shape
from app.video.decode import Limits, Sampling, VideoInfo, VideoReader
from app.video.sources import ChunkedSource, decode_image

# The exit status of a worker that ran out of its address space (RLIMIT_AS).
MEMORY_EXIT = 86
FULL = 0.75  # of the address-space limit: a worker holding more after a job ends


@dataclass(frozen=True)
class Open:
    """Open a video: an upload (its descriptor follows) or a live stream (chunks follow)."""

    limits: Limits
    threads: int
    format: str | None
    live: bool
    cpu_limit_s: int


@dataclass(frozen=True)
class Chunk:
    """A piece of a live stream, with when it reached the service (`time.monotonic()`, one
    clock for all processes), so that the worker knows how long it waited."""

    data: bytes
    arrived: float


@dataclass(frozen=True)
class Decode:
    """Decode the opened video's sampled frames into the ring (its descriptor follows)."""

    sampling: Sampling
    conversions: Conversions
    slots: int
    check_complete: bool


@dataclass(frozen=True)
class Image:
    """Decode and convert one encoded image."""

    data: bytes
    conversions: Conversions
    max_pixels: int
    cpu_limit_s: int


@dataclass(frozen=True)
class Opened:
    info: VideoInfo


@dataclass(frozen=True)
class Frame:
    """A frame is in its slot; `decoded`, `skipped` and `busy_s` are the reader's counts so far."""

    index: int
    time_s: float
    arrived: float | None
    decoded: int
    skipped: int
    busy_s: float


@dataclass(frozen=True)
class Done:
    decoded: int
    skipped: int
    busy_s: float


@dataclass(frozen=True)
class Failed:
    error: ScreenError


@dataclass(frozen=True)
class Converted:
    value: Any


Message = Open | Decode | Image | Opened | Frame | Done | Failed | Converted


def ring_size(shapes: tuple[Shape, ...], slots: int) -> int:
    """Bytes of a ring of `slots` frames whose arrays have `shapes` (uint8)."""
    return slots * _slot_bytes(shapes)


def _slot_bytes(shapes: tuple[Shape, ...]) -> int:
    return sum(math.prod(shape) for shape in shapes)


def write_slot(ring: mmap.mmap, shapes: tuple[Shape, ...], slot: int, arrays: tuple[np.ndarray, ...]) -> None:
    for target, array in zip(_slot_arrays(ring, shapes, slot), arrays, strict=True):
        target[...] = array


def read_slot(ring: mmap.mmap, shapes: tuple[Shape, ...], slot: int) -> tuple[np.ndarray, ...]:
    """Copies of slot `slot`'s arrays (the slot is written again once acknowledged)."""
    return tuple(np.array(view) for view in _slot_arrays(ring, shapes, slot))


def _slot_arrays(buffer: mmap.mmap, shapes: tuple[Shape, ...], slot: int) -> tuple[np.ndarray, ...]:
    """Views of slot `slot`'s arrays in a ring (the ring closes once none is left)."""
    offset = slot * _slot_bytes(shapes)
    arrays = []
    for shape in shapes:
        arrays.append(np.frombuffer(buffer, np.uint8, math.prod(shape), offset).reshape(shape))
        offset += math.prod(shape)
    return tuple(arrays)


def receive_fd(conn: Connection) -> int:
    """A file descriptor sent over the socket of `conn` (SCM_RIGHTS)."""
    with socket.socket(fileno=os.dup(conn.fileno())) as sock:
        [fd] = recvfds(sock, 1)
    return fd


class _Inbox(ChunkedSource):
    """The worker's side of its socket: the next job or command, and a live stream's chunks,
    which it reads as a file (they are kept while the worker waits for a command)."""

    def __init__(self, conn: Connection) -> None:
        super().__init__()
        self.conn = conn
        self._chunks: deque[Chunk] = deque()
        self._ended = False

    def start_stream(self) -> None:
        self._chunks.clear()
        self._ended = False
        self._buffer = memoryview(b"")

    def command(self) -> Message:
        """The next message that is not a chunk."""
        while not isinstance(message := self._receive(), Message):
            continue
        return message

    def _receive(self) -> Message | Chunk | None:
        message = self.conn.recv()
        if isinstance(message, Chunk):
            self._chunks.append(message)
        elif message is None:
            self._ended = True
        return message

    def _next_chunk(self) -> tuple[bytes, float] | None:
        while not self._chunks:
            if self._ended:
                return None
            if isinstance(message := self._receive(), Message):
                raise RuntimeError(f"a stream's chunk was expected, got {type(message).__name__}")
        chunk = self._chunks.popleft()
        return chunk.data, chunk.arrived


def _limit_cpu(seconds: int) -> None:
    """Let this process use `seconds` more CPU time (SIGXCPU past that ends it)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (math.ceil(usage.ru_utime + usage.ru_stime) + seconds, hard))


def _video(job: Open, inbox: _Inbox, acks: Connection) -> Done | Failed:
    """One video job; its last answer is returned, not sent."""
    conn = inbox.conn
    _limit_cpu(job.cpu_limit_s)
    if job.live:
        inbox.start_stream()
        source: BinaryIO = inbox  # type: ignore[assignment]
    else:
        source = os.fdopen(receive_fd(conn), "rb")
        source.seek(0)
    try:
        try:
            reader = VideoReader(source, job.limits, job.threads, job.format)
        except ScreenError as exc:
            return Failed(exc)
        with reader:
            conn.send(Opened(reader.info))
            decode = inbox.command()
            assert isinstance(decode, Decode), decode
            conversion = decode.conversions.for_size(reader.info.width, reader.info.height)
            return _frames(reader, decode, conversion, conn, acks, job)
    finally:
        if not job.live:
            source.close()


def _frames(
    reader: VideoReader, decode: Decode, conversion: Conversion, conn: Connection, acks: Connection, job: Open
) -> Done | Failed:
    """Write the sampled frames into the ring, a slot each, reusing a slot once the service
    acknowledged its frame; the outcome once every frame was acknowledged."""
    fd = receive_fd(conn)
    sent = acked = 0
    with mmap.mmap(fd, ring_size(conversion.shapes, decode.slots)) as ring:
        os.close(fd)
        try:
            frames = reader.converted(decode.sampling, decode.conversions,
                                      check_complete=decode.check_complete)
            for frame in frames:
                if sent >= decode.slots:
                    acks.recv_bytes()
                    acked += 1
                write_slot(ring, conversion.shapes, sent % decode.slots, conversion.to_arrays(frame.pixels))
                conn.send(Frame(frame.index, frame.time_s, frame.arrived, reader.frames_decoded,
                                reader.frames_skipped, reader.busy_s))
                sent += 1
                if job.live:  # a stream's budget is renewed with each frame
                    _limit_cpu(job.cpu_limit_s)
            outcome: Done | Failed = Done(reader.frames_decoded, reader.frames_skipped, reader.busy_s)
        except ScreenError as exc:
            if isinstance(exc.__cause__, MemoryError):
                raise exc.__cause__ from None
            outcome = Failed(exc)
    for _ in range(sent - acked):
        acks.recv_bytes()
    return outcome


def _image(job: Image) -> Converted | Failed:
    _limit_cpu(job.cpu_limit_s)
    try:
        return Converted(decode_image(job.data, job.conversions, job.max_pixels))
    except ScreenError as exc:
        if isinstance(exc.__cause__, MemoryError):
            raise exc.__cause__ from None
        return Failed(exc)


def _address_space() -> int:
    """Bytes of address space this process holds now (VmSize)."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmSize:"))
    return int(line.split()[1]) * 1024


def serve(conn: Connection, acks: Connection, memory_bytes: int) -> None:
    """The worker's life: its address-space limit, then one job after another until the
    service closes the socket (or dies: the socket ends then too).

    FFmpeg does not give back all it took when an allocation failed (a decompression bomb
    against RLIMIT_AS), so a worker left holding over `FULL` of its limit after a job ends:
    before answering, if the job failed (its error is then the memory's), else after."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the service's to handle
    inbox = _Inbox(conn)
    try:
        while True:
            job = inbox.command()
            if isinstance(job, Image):
                answer: Message = _image(job)
            elif isinstance(job, Open):
                answer = _video(job, inbox, acks)
            else:
                raise RuntimeError(f"a job was expected, got {type(job).__name__}")
            full = _address_space() > FULL * memory_bytes
            if full and isinstance(answer, Failed):
                os._exit(MEMORY_EXIT)
            conn.send(answer)
            if full:
                os._exit(MEMORY_EXIT)
    except (EOFError, OSError):  # the socket ended: the service closed it, or died
        return
    except MemoryError:
        os._exit(MEMORY_EXIT)


if __name__ == "__main__":  # the jobs' classes are this module's, not __main__'s: import it
    from app.video.worker import serve as serve_jobs

    serve_jobs(Connection(int(sys.argv[1])), Connection(int(sys.argv[2]), writable=False), int(sys.argv[3]))
