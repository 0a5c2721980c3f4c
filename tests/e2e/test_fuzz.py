"""Hostile uploads against the live service: a seeded mutation fuzzer over small valid videos
of several containers and codecs, and the inputs it found (tests/fixtures/hostile/).

Every answer must be a 2xx, or a 4xx with the error shape and a code, within the client's
timeout; the same service process must answer /healthz after each case; and nothing may be
left behind: no file descriptor, no temporary file in the service's TMPDIR, no /dev/shm
entry. A failure names its case and rng seed; `case(seeds, name, number)` rebuilds it.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.e2e.mutate import mutate
from tests.e2e.processes import Service, start_service
from tests.helpers import encode_gif, encode_video

SEED = 20261201
CASES_PER_SEED = 250
TIMEOUT_S = 20.0  # per request: four times the service's decode timeout (below)
SETTLE_S = 10.0  # for the service to close what a finished request held
HOSTILE = Path(__file__).parents[1] / "fixtures" / "hostile"
# Each case is uploaded with one of these (drawn after its mutations): the seek of start_s,
# fps slots and early stops take their own paths through a damaged file.
QUERIES = {"plain": "", "start_s": "?start_s=0.15", "fps": "?fps=5", "every_n": "?every_n=3&max_frames=2"}


def _tiny(file: str, container: dict[str, str] | None = None, **kwargs: Any) -> Callable[[Path], Path]:
    """A seed: 10 frames of 64x48 in `file`, bit-exact (no random UIDs, no version strings),
    so that a case's seed rebuilds its bytes."""
    options = {"fflags": "+bitexact"} | (container or {})
    return lambda root: encode_video(
        root / file, frames=10, size=(64, 48), container_options=options, **kwargs
    )


_SEEDS: dict[str, Callable[[Path], Path]] = {
    "mp4-h264": _tiny("clip.mp4"),
    "webm-vp9": _tiny("clip.webm", codec="libvpx-vp9", options={"deadline": "realtime"}),
    "avi-mpeg4": _tiny("clip.avi", codec="mpeg4"),
    "mkv-vp8": _tiny("clip.mkv", codec="libvpx"),
    "ts-mpeg2": _tiny("clip.ts", codec="mpeg2video"),
    "gif": lambda root: encode_gif(root / "clip.gif"),
    "mp4-fragmented": _tiny("fragmented.mp4", {"movflags": "frag_keyframe+empty_moov"}),
    "mp4-hevc": _tiny("hevc.mp4", codec="libx265", options={"x265-params": "log-level=none"}),
    "mpg-mpeg1": _tiny("clip.mpg", codec="mpeg1video"),  # MPEG-PS
}


@dataclass
class Live:
    """The service under attack, what it has logged so far, and its TMPDIR."""

    service: Service
    client: httpx.Client
    log: list[str]
    spool: Path


@dataclass(frozen=True)
class Outcome:
    """How the service took one upload: its answer ('200', '422 corrupt_video', 'no answer
    in 20 s'...) and what was wrong (None: nothing), with the service's log lines meanwhile."""

    answer: str
    problem: str | None
    log: list[str]

    def report(self) -> str:
        return f"{self.problem}\n  service log:\n" + "".join(f"    {line}" for line in self.log[-60:])


@dataclass(frozen=True)
class Resources:
    """What the service process holds: open fds (targets by number), files in its TMPDIR
    (ONNX Runtime's telemetry leaves a `.ses` there at start), the entries of /dev/shm, and
    its child processes (zombies too)."""

    fds: dict[int, str]
    spooled: set[str]
    shm: set[str]
    children: int


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    root = tmp_path_factory.mktemp("seeds")
    return {name: encode(root).read_bytes() for name, encode in _SEEDS.items()}


@pytest.fixture(scope="module")
def live(
    model_path: Path, seeds: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    """The service with its own TMPDIR and a 5 s decode timeout, warmed up on every seed;
    its output is `service.log`."""
    spool = tmp_path_factory.mktemp("spool")
    env = {
        "DISTILSCREEN_MODEL_PATH": str(model_path),
        "DISTILSCREEN_INTRA_OP_THREADS": "1",
        "DISTILSCREEN_DECODE_THREADS": "1",
        "DISTILSCREEN_DECODE_TIMEOUT_S": "5",
        "TMPDIR": str(spool),
    }
    with closing(start_service(env)) as services:
        service = next(services)
        # no keep-alive: between requests the service holds no connection of ours
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=service.url, timeout=TIMEOUT_S, limits=limits) as client:
            alive = Live(service, client, service.log, spool)
            for name, data in seeds.items():
                assert check(alive, data).answer == "200", name
            yield alive


def case(seeds: dict[str, bytes], name: str, number: int) -> tuple[str, str, bytes]:
    """Case `number` of seed `name`: its mutations, query (a QUERIES key) and bytes, from rng
    seed [SEED, seed index, number]."""
    rng = np.random.default_rng([SEED, list(seeds).index(name), number])
    mutations, data = mutate(seeds[name], rng, [data for other, data in seeds.items() if other != name])
    return mutations, list(QUERIES)[int(rng.integers(len(QUERIES)))], data


def _answer(response: httpx.Response) -> tuple[str, bool]:
    """The answer in short, and whether it is acceptable (2xx with frames, or 4xx with the
    error shape)."""
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code} {response.text[:300]!r}", False
    status = response.status_code
    error = body.get("error") if isinstance(body, dict) else None
    if 200 <= status < 300:
        return str(status), isinstance(body, dict) and "frames" in body
    code = error.get("code") if isinstance(error, dict) else None
    shaped = isinstance(code, str) and bool(code) and isinstance(error.get("message"), str)
    return (f"{status} {code}" if shaped else f"{status} {body!r}"[:300]), shaped and 400 <= status < 500


def _unhealthy(live: Live) -> str | None:
    if (code := live.service.process.poll()) is not None:
        return f"the service exited with {code}"
    try:
        status = live.client.get("/healthz").status_code
    except httpx.HTTPError as exc:
        return f"/healthz failed: {exc!r}"
    return None if status == 200 else f"/healthz answered {status}"


def check(live: Live, data: bytes, query: str = "plain") -> Outcome:
    """Upload `data` as a raw video/mp4 body with QUERIES[query]; then ask /healthz."""
    mark = len(live.log)
    url, headers = f"/v1/screen{QUERIES[query]}", {"content-type": "video/mp4"}
    try:
        answer, fine = _answer(live.client.post(url, content=data, headers=headers))
    except httpx.TimeoutException:
        answer, fine = f"no answer in {TIMEOUT_S:.0f} s", False
    except httpx.HTTPError as exc:
        answer, fine = f"no answer: {exc!r}", False
    problems = [p for p in (None if fine else answer, _unhealthy(live)) if p]
    return Outcome(answer, "; ".join(problems) or None, live.log[mark:])


def _fds(pid: int) -> dict[int, str]:
    targets = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets[int(fd)] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:  # closed meanwhile
            continue
    return targets


def resources(live: Live) -> Resources:
    pid = live.service.process.pid
    return Resources(_fds(pid), set(os.listdir(live.spool)), set(os.listdir("/dev/shm")),
                     len(live.service.children()))


def settled(live: Live) -> Resources:
    """The service's resources once two looks 0.2 s apart agree (closing is asynchronous),
    or the last look after SETTLE_S."""
    deadline = time.monotonic() + SETTLE_S
    now = resources(live)
    while True:
        time.sleep(0.2)
        if (later := resources(live)) == now or time.monotonic() > deadline:
            return later
        now = later


def leaks(live: Live, before: Resources) -> list[str]:
    """What the service holds now and did not before, once it had SETTLE_S to close it.

    No slack on the fd count: the client keeps no connection open between requests, and
    what the service opens once (listening socket, event loop, model, log pipe) is open
    before `before` is taken, after the warm-up on every seed."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        after = resources(live)
        found = []
        if len(after.fds) > len(before.fds):
            new = sorted(set(after.fds.items()) - set(before.fds.items()))
            found.append(f"{len(after.fds)} open fds, {len(before.fds)} before; new: {new}")
        if open_spools := [t for t in after.fds.values() if t.startswith(str(live.spool))]:
            found.append(f"spool files still open: {open_spools}")
        if spooled := sorted(after.spooled - before.spooled):
            found.append(f"new files in TMPDIR: {spooled}")
        if shm := sorted(after.shm - before.shm):
            found.append(f"new in /dev/shm: {shm}")
        if after.children > before.children:
            found.append(f"{after.children} child processes, {before.children} before")
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_mutated_videos_never_break_the_service(live: Live, seeds: dict[str, bytes], tmp_path: Path) -> None:
    before = settled(live)
    failures, answers = [], Counter[str]()
    started = time.perf_counter()
    for name in seeds:
        for number in range(CASES_PER_SEED):
            mutations, query, data = case(seeds, name, number)
            outcome = check(live, data, query)
            answers[outcome.answer] += 1
            if outcome.problem is not None:
                saved = tmp_path / f"{name}-{number}.bin"
                saved.write_bytes(data)
                failures.append(
                    f"{name} case {number} (rng seed [{SEED}, {list(seeds).index(name)}, {number}], "
                    f"{mutations}, {query}, {len(data)} bytes, saved as {saved}): {outcome.report()}"
                )
    print(f"{sum(answers.values())} cases in {time.perf_counter() - started:.1f} s: {dict(answers)}")
    leaked = leaks(live, before)
    assert not failures and not leaked, "\n\n".join([*failures, *leaked])


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize(
    "path", sorted(p for p in HOSTILE.iterdir() if p.name != "README.md"), ids=lambda p: p.name
)
def test_hostile_inputs_found_by_the_fuzzer(live: Live, path: Path, query: str) -> None:
    before = settled(live)
    outcome = check(live, path.read_bytes(), query)
    assert outcome.problem is None, f"{path.name} ({query}): {outcome.report()}"
    assert not (leaked := leaks(live, before)), leaked
