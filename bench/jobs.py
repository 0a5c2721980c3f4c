"""Jobs against synchronous uploads: N jobs of the bench clip submitted at once, and N
concurrent uploads of it to /v1/screen, side by side on one service, frames/s of each
(target: jobs >= 0.9 x uploads); and the database's share of a job's time, on the
embedded SQLite and on a PostgreSQL server started here (Debian's `postgresql`).

Each database gets its own service (the DISTILSCREEN_* env, default job concurrency);
the two loads alternate --rounds times after a warm-up, and the medians are compared. A
job's database share is its `db_s` (claim, progress renewals, outcome) over its run.

    python bench/jobs.py [--clients 20] [--frames 150] [--rounds 2] [--databases sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

import httpx
from common import machine, make_clip, start_service

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' PostgreSQL server

from tests.app.jobs.postgres import fresh_database, postgres_server  # noqa: E402
from tests.e2e.processes import free_port  # noqa: E402

VIDEO = {"content-type": "video/mp4"}


async def uploads(url: str, body: bytes, clients: int) -> float:
    """`clients` concurrent uploads to /v1/screen: frames screened per second of wall time."""
    async with httpx.AsyncClient(base_url=url, timeout=600) as client:
        started = time.perf_counter()
        answers = await asyncio.gather(*(client.post("/v1/screen", content=body, headers=VIDEO)
                                         for _ in range(clients)))
        elapsed = time.perf_counter() - started
    for answer in answers:
        answer.raise_for_status()
    return sum(a.json()["video"]["frames_screened"] for a in answers) / elapsed


async def jobs(url: str, body: bytes, clients: int) -> tuple[float, list[float]]:
    """`clients` jobs submitted at once, polled until all are done: frames screened per
    second from the first submission to the last result, and each job's database share."""
    async with httpx.AsyncClient(base_url=url, timeout=600) as client:
        started = time.perf_counter()
        submitted = await asyncio.gather(*(client.post("/v1/jobs", content=body, headers=VIDEO)
                                           for _ in range(clients)))
        ids = {s.raise_for_status().json()["id"] for s in submitted}
        while True:
            listed = (await client.get("/v1/jobs", params={"limit": 100})).json()["jobs"]
            done = [j for j in listed if j["id"] in ids and j["status"] not in ("queued", "running")]
            if len(done) == len(ids):
                break
            await asyncio.sleep(0.1)
        elapsed = time.perf_counter() - started
        for j in done:
            await client.delete(f"/v1/jobs/{j['id']}")
    failed = [j for j in done if j["status"] != "succeeded"]
    if failed:
        raise SystemExit(f"{len(failed)} jobs did not succeed: {failed[0]['error']}")
    shares = [j["db_s"] / (_at(j["finished_at"]) - _at(j["started_at"])) for j in done]
    return sum(j["progress"]["frames_done"] for j in done) / elapsed, shares


def _at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def measure(url: str, body: bytes, args: argparse.Namespace) -> tuple[list[float], list[float], list[float]]:
    """Alternating rounds of both loads after a warm-up of each: upload and job frames/s, DB shares."""
    asyncio.run(uploads(url, body, 2))
    asyncio.run(jobs(url, body, 2))
    sync, queued, shares = [], [], []
    for _ in range(args.rounds):
        sync.append(asyncio.run(uploads(url, body, args.clients)))
        rate, round_shares = asyncio.run(jobs(url, body, args.clients))
        queued.append(rate)
        shares += round_shares
    return sync, queued, shares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20, help="jobs, and concurrent uploads")
    parser.add_argument("--frames", type=int, default=150, help="frames of the 720p bench clip")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each load, alternating")
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"load: {args.clients} clients, a 720p H.264 clip of {args.frames} frames, {args.rounds} rounds")
    columns = ("uploads f/s", "jobs f/s", "jobs/uploads", "DB share of a job")
    print(f"{'database':<11} {columns[0]:>11} {columns[1]:>9} {columns[2]:>12} {columns[3]:>26}")
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        body = make_clip(Path(tmp) / "clip.mp4", frames=args.frames).read_bytes()
        for database in args.databases.split(","):
            env = {"DISTILSCREEN_DATA_DIR": str(Path(tmp) / database)}
            if database == "postgresql":
                server = stack.enter_context(postgres_server())
                env["DISTILSCREEN_DATABASE_URL"] = fresh_database(server)
            port = free_port()
            service = start_service(port, env=env)
            try:
                sync, queued, shares = measure(f"http://127.0.0.1:{port}", body, args)
            finally:
                service.terminate()
                service.wait(timeout=60)
            ratio = statistics.median(queued) / statistics.median(sync)
            share = f"median {statistics.median(shares):.2%}, max {max(shares):.2%}"
            print(f"{database:<11} {statistics.median(sync):>11.1f} {statistics.median(queued):>9.1f} "
                  f"{ratio:>12.3f} {share:>26}")
    print("target: jobs/uploads >= 0.9")


if __name__ == "__main__":
    main()
