"""The service's side of decoding in worker processes (`app.video.worker`).

`DecoderPool` keeps `size` workers ready and starts more when all are busy (a stream holds
one for its life); `open` gives a `WorkerReader`, which has the API of `VideoReader`, so
screening and streams do not care where frames are decoded. Frames come back through a
ring of shared memory (a memfd per job: anonymous, gone with its last descriptor), copied
out as they arrive.

A worker that dies during a job (a signal, its memory or CPU limit) costs that job
`DecoderCrashed`; one that decodes past the decode time limit is killed (`DecodeTimeout`).
Either way, and whenever the service abandons a job (it stopped reading, or the stream
failed), the worker is killed and replaced: only a job that ended cleanly leaves its
worker to serve the next.
"""

from __future__ import annotations

import math
import mmap
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from multiprocessing.reduction import sendfds
from typing import BinaryIO, TypeVar

from app.errors import DecoderCrashed, DecodeTimeout
from app.metrics import Metrics
from app.video.conversion import Conversions
from app.video.decode import Limits, SampledFrame, Sampling, VideoInfo
from app.video.sources import ChunkedSource
from app.video.worker import (
    MEMORY_EXIT,
    Chunk,
    Converted,
    Decode,
    Done,
    Failed,
    Frame,
    Image,
    Message,
    Open,
    Opened,
    read_slot,
    ring_size,
)

T = TypeVar("T")
SLOTS = 8  # frames a worker may decode ahead of the service
IDLE_S = 60.0  # how long a worker started beyond the pool's size may wait for a job
POLL_S = 0.25  # how often a waiting job looks at its stop flag
KILL_GRACE_S = 2.0  # past the decode time limit, before the service kills a worker


class _Worker:
    """One worker process and the service's ends of its socket and acknowledgement pipe."""

    def __init__(self, memory_bytes: int) -> None:
        ours, theirs = socket.socketpair()
        acks_read, acks_write = os.pipe()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app.video.worker",
                 str(theirs.fileno()), str(acks_read), str(memory_bytes)],
                pass_fds=(theirs.fileno(), acks_read),
                stdin=subprocess.DEVNULL,
                # two malloc arenas: the address-space limit is for frames, not reserved heaps
                env=os.environ | {"MALLOC_ARENA_MAX": "2"},
            )
        finally:
            theirs.close()
            os.close(acks_read)
        self.conn = Connection(ours.detach())
        self.acks = Connection(acks_write, readable=False)
        self._sending = threading.Lock()
        self.idle_since = time.monotonic()

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def send(self, message: Message | Chunk | None, fd: int | None = None) -> None:
        """Send a message (and a descriptor right after it); chunks come from another thread."""
        with self._sending:
            self.conn.send(message)
            if fd is not None:
                with socket.socket(fileno=os.dup(self.conn.fileno())) as sock:
                    sendfds(sock, [fd])

    def exit_cause(self) -> str:
        """Why the process ended: a signal's name (sigkill, sigsegv, sigxcpu...), memory_limit
        or exit_<status>."""
        try:
            status = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            status = self.process.wait()
        if status == MEMORY_EXIT:
            return "memory_limit"
        if status < 0:
            return signal.Signals(-status).name.lower()
        return f"exit_{status}"

    def close(self, kill: bool) -> None:
        """End the process (killed, or told by the closed socket) and close our ends."""
        if kill:
            self.process.kill()
        with self._sending:  # a chunk being sent fails once the process is gone
            self.conn.close()
        self.acks.close()
        self.process.wait()


class DecoderPool:
    """Decoder worker processes: `size` kept ready, more started when all are busy (they
    stay while there is work for them: IDLE_S)."""

    def __init__(self, size: int, memory_bytes: int, cpu_limit_s: int, metrics: Metrics) -> None:
        if size < 1:
            raise ValueError(f"a pool needs at least one worker, got size={size}")
        self.size = size
        self.memory_bytes = memory_bytes
        self.cpu_limit_s = cpu_limit_s
        self.metrics = metrics
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            self._idle.extend(_Worker(self.memory_bytes) for _ in range(self.size - len(self._idle)))
        self._count()

    def stop(self) -> None:
        """Close every worker; busy ones are killed (their jobs fail)."""
        with self._lock:
            idle, busy, self._idle, self._busy = self._idle, self._busy, [], set()
        for worker in idle:
            worker.close(kill=False)
        for worker in busy:
            worker.close(kill=True)
        self._count()

    def pids(self, busy: bool) -> list[int]:
        """The process ids of the busy (or idle) workers."""
        with self._lock:
            return [w.pid for w in (self._busy if busy else self._idle)]

    def open(
        self, source: BinaryIO, limits: Limits, threads: int = 0, format: str | None = None
    ) -> WorkerReader:
        """A reader of the video in `source` (a file, or a live stream read as it arrives)."""
        return WorkerReader(self, source, limits, threads, format)

    def image(self, data: bytes, conversions: Conversions[T], max_pixels: int) -> T:
        """One encoded image, decoded and converted in a worker."""
        job = _Job(self, math.inf, reusable_after_failure=True)
        try:
            job.worker.send(Image(data, conversions, max_pixels, self.cpu_limit_s))
            answer = job.receive()
            assert isinstance(answer, Converted), answer
            job.clean = True
            return answer.value
        finally:
            job.end()

    def _acquire(self) -> _Worker:
        with self._lock:
            worker = self._idle.pop() if self._idle else _Worker(self.memory_bytes)
            self._busy.add(worker)
        if not worker.alive():  # it died while idle (an OOM killer, an operator)
            self.metrics.decoder_deaths.labels(worker.exit_cause()).inc()
            self._release(worker, clean=False)
            return self._acquire()
        self._count()
        return worker

    def _release(self, worker: _Worker, clean: bool) -> None:
        """A job's end: its worker serves again if the job ended cleanly, else it is closed
        (killed if the job did not end). Workers beyond `size` idle for IDLE_S are closed;
        the pool is topped up to `size`."""
        closing = []
        with self._lock:
            self._busy.discard(worker)
            if clean:
                worker.idle_since = time.monotonic()
                self._idle.append(worker)  # the most recently used is taken first
            else:
                closing.append(worker)
            while len(self._idle) > self.size and self._idle[0].idle_since < time.monotonic() - IDLE_S:
                closing.append(self._idle.pop(0))
            missing = self.size - len(self._idle) - len(self._busy)
            self._idle[:0] = [_Worker(self.memory_bytes) for _ in range(missing)]
        for old in closing:
            old.close(kill=old is worker and not clean)
        self._count()

    def _count(self) -> None:
        self.metrics.decoder_workers.labels("idle").set(len(self._idle))
        self.metrics.decoder_workers.labels("busy").set(len(self._busy))


class _Job:
    """One job on a worker taken from the pool: its answers, with the deadline and the
    worker's death watched; `end` gives the worker back (or replaces it)."""

    def __init__(self, pool: DecoderPool, timeout_s: float, reusable_after_failure: bool) -> None:
        self.pool = pool
        self.worker = pool._acquire()
        self.timeout_s = timeout_s
        self.reusable_after_failure = reusable_after_failure
        self.waited_s = 0.0
        self.clean = False  # the worker waits for its next job, with nothing of this one pending

    def receive(self, should_stop: Callable[[], bool] = lambda: False) -> Message | None:
        """The worker's next answer; None once `should_stop()`. A `Failed` answer is raised."""
        conn = self.worker.conn
        while True:
            mark = time.perf_counter()
            ready = conn.poll(POLL_S)
            self.waited_s += time.perf_counter() - mark
            if ready:
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    raise self._died() from None
                if isinstance(message, Failed):
                    self.clean = self.reusable_after_failure
                    raise message.error
                return message
            if should_stop():
                return None
            if self.waited_s > self.timeout_s + KILL_GRACE_S:
                self.worker.process.kill()
                self.worker.process.wait()
                self._count_death("timeout")
                raise DecodeTimeout(f"the decoder took longer than {self.timeout_s:.0f} s and was stopped")

    def _died(self) -> DecoderCrashed:
        cause = self.worker.exit_cause()
        self._count_death(cause)
        return DecoderCrashed(f"the decoder process died on this input ({cause}); the service is unaffected")

    def _count_death(self, cause: str) -> None:
        self.pool.metrics.decoder_deaths.labels(cause).inc()

    def end(self) -> None:
        self.pool._release(self.worker, self.clean)


class WorkerReader:
    """A video opened in a worker: `VideoReader`'s API (info, frames_decoded, frames_skipped,
    busy_s, converted), on the service's side. A live source (not seekable) is forwarded to
    the worker chunk by chunk by a thread of its own; a file is passed as its descriptor."""

    def __init__(
        self, pool: DecoderPool, source: BinaryIO, limits: Limits, threads: int, format: str | None
    ) -> None:
        self.limits = limits
        self.live = not source.seekable()
        self.frames_decoded = 0
        self.frames_skipped = 0
        self.busy_s = 0.0
        # a stream's chunks may still be on their way when it fails: its worker is not reused
        self._job = _Job(pool, limits.timeout_s, reusable_after_failure=not self.live)
        try:
            opening = Open(limits, threads, format, self.live, pool.cpu_limit_s)
            if self.live:
                self._job.worker.send(opening)
                threading.Thread(target=_forward, args=(source, self._job.worker), daemon=True,
                                 name="decoder-feed").start()
            else:
                with _as_file(source) as file:
                    self._job.worker.send(opening, fd=file.fileno())
            opened = self._job.receive()
            assert isinstance(opened, Opened), opened
            self.info: VideoInfo = opened.info
        except BaseException:
            self._job.end()
            raise

    def __enter__(self) -> WorkerReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._job.end()

    def _take_counts(self, message: Frame | Done) -> None:
        """The reader's counts, as the worker's last message gives them."""
        self.frames_decoded, self.frames_skipped = message.decoded, message.skipped
        self.busy_s = message.busy_s

    def converted(
        self,
        sampling: Sampling,
        conversions: Conversions[T],
        should_stop: Callable[[], bool] = lambda: False,
        check_complete: bool = True,
    ) -> Iterator[SampledFrame[T]]:
        """Yield the sampled frames, converted by `conversions`, as the worker decodes them."""
        conversion = conversions.for_size(self.info.width, self.info.height)
        fd = os.memfd_create("distilscreen-frames", os.MFD_CLOEXEC)
        try:
            size = ring_size(conversion.shapes, SLOTS)
            os.ftruncate(fd, size)
            ring = mmap.mmap(fd, size)
            self._job.worker.send(Decode(sampling, conversions, SLOTS, check_complete), fd=fd)
        finally:
            os.close(fd)
        try:
            seq = 0
            while (message := self._job.receive(should_stop)) is not None:
                if isinstance(message, Done):
                    self._take_counts(message)
                    self._job.clean = True
                    return
                assert isinstance(message, Frame), message
                arrays = read_slot(ring, conversion.shapes, seq % SLOTS)
                self._job.worker.acks.send_bytes(b"")
                seq += 1
                self._take_counts(message)
                pixels = conversion.from_arrays(arrays)
                yield SampledFrame(message.index, message.time_s, pixels, message.arrived)
        finally:
            ring.close()


@contextmanager
def _as_file(source: BinaryIO) -> Iterator[BinaryIO]:
    """`source` if it has a descriptor (a spooled upload gets one), else a temporary copy."""
    try:
        source.fileno()
    except OSError:  # io.UnsupportedOperation: in memory
        with tempfile.TemporaryFile() as copy:
            source.seek(0)
            shutil.copyfileobj(source, copy)
            yield copy
    else:
        yield source


def _forward(source: BinaryIO, worker: _Worker) -> None:
    """A live source's bytes to the worker as they arrive, each with its arrival (a chunked
    source's own, else now), then None (its end)."""
    try:
        while data := source.read(1 << 16):
            arrived = source.arrived if isinstance(source, ChunkedSource) else time.monotonic()
            worker.send(Chunk(data, arrived))
        worker.send(None)
    except (OSError, ValueError):  # the worker is gone (killed, or its job failed)
        return

