"""Real processes on loopback: start them, wait for them, stop them."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    """The child processes of `pid`, zombies included."""
    tasks = Path(f"/proc/{pid}/task")
    return sorted(int(child) for task in tasks.iterdir() for child in (task / "children").read_text().split())


def wait_until(
    check: Callable[[], bool], timeout_s: float, what: str, process: subprocess.Popen | None = None
) -> None:
    """Poll `check` until true; fail with `what` (and the process's output) after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            pytest.fail(f"{what}: process exited with {process.returncode}:\n{process.stdout.read()}")
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


@dataclass
class Service:
    """A running service; `log` gathers its output line by line as it comes (a thread reads
    the pipe all along: a full pipe would stall the service)."""

    url: str
    process: subprocess.Popen
    log: list[str] = field(default_factory=list)

    def open_files(self) -> list[str]:
        """What the service holds open: each descriptor's target (a path, `pipe:[inode]`...)."""
        fds = Path(f"/proc/{self.process.pid}/fd")
        targets = []
        for fd in fds.iterdir():
            with contextlib.suppress(FileNotFoundError):  # closed meanwhile
                targets.append(os.readlink(fd))
        return targets

    def wait_released(self, before: list[str], timeout_s: float, what: str) -> None:
        """Wait until the service holds no more descriptors than `before` (its open_files()
        then); a failure names those it holds now that it did not."""
        now: list[str] = []

        def released() -> bool:
            now[:] = self.open_files()
            return len(now) <= len(before)

        try:
            wait_until(released, timeout_s, what)
        except pytest.fail.Exception:
            extra = Counter(now) - Counter(before)
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}: {len(now)} descriptors, "
                        f"{len(before)} before; new: {dict(extra)}")

    def children(self) -> list[int]:
        """The service's child processes (its decoder workers), zombies included."""
        return children(self.process.pid)

    def drain(self) -> None:
        threading.Thread(target=lambda: self.log.extend(self.process.stdout), daemon=True).start()


def start_service(env: dict[str, str]) -> Iterator[Service]:
    """`distilscreen serve` in a subprocess with `env` on top of ours; stopped afterwards.
    Its jobs are in a data dir of its own unless `env` names one (no service runs the jobs
    another test left)."""
    port = free_port()
    data = tempfile.mkdtemp(prefix="distilscreen-data-")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=os.environ | {"DISTILSCREEN_DATA_DIR": data} | env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    service = Service(f"http://127.0.0.1:{port}", process)
    try:
        wait_until(
            lambda: httpx.get(f"{service.url}/readyz").status_code == 200, 60, "service ready", process
        )
        service.drain()
        yield service
    finally:
        process.terminate()
        process.wait(timeout=20)
        shutil.rmtree(data, ignore_errors=True)
