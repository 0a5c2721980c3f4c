"""Version benchmark: does a change keep the speed of what it did not mean to change?

The same upload (a generated 720p H.264 clip of 300 frames, or --video) is screened with
the same options by the service of this tree and by the service of --base (a commit, run
from a temporary git worktree with this environment), alternately for --rounds rounds
after one warm-up upload each. Printed: each one's frames/s per round, the medians, and
their ratio (this tree / base).

    python bench/versions.py --base 69f8ab5 [--options every_n=1] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from common import ROOT, machine, make_clip, start_service


def screen_fps(url: str, body: bytes, options: dict[str, str]) -> float:
    """Frames screened / wall time of one upload over HTTP."""
    started = time.perf_counter()
    response = httpx.post(f"{url}/v1/screen", content=body, headers={"content-type": "video/mp4"},
                          params={"max_frames": 10_000} | options, timeout=600)
    response.raise_for_status()
    return response.json()["video"]["frames_screened"] / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the commit to compare with")
    parser.add_argument("--video", type=Path, help="video to upload (default: a generated 720p clip)")
    parser.add_argument("--options", nargs="*", default=["every_n=1"], help="query options, name=value")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    options = dict(option.split("=", 1) for option in args.options)

    workdir = Path(tempfile.mkdtemp())
    video = args.video or make_clip(workdir / "clip.mp4")
    body = video.read_bytes()
    base_tree = workdir / "base"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base_tree), args.base],
                   check=True, capture_output=True)
    port = 19000 + os.getpid() % 1000
    trees = {"this tree": ROOT, args.base: base_tree}
    services = {name: start_service(port + n, root=tree) for n, (name, tree) in enumerate(trees.items())}
    urls = {name: f"http://127.0.0.1:{port + n}" for n, name in enumerate(trees)}
    rates: dict[str, list[float]] = {name: [] for name in trees}
    try:
        for url in urls.values():
            screen_fps(url, body, options)  # warm-up
        for _ in range(args.rounds):
            for name, url in urls.items():  # alternately: drift on a shared machine hits both
                rates[name].append(screen_fps(url, body, options))
    finally:
        for service in services.values():
            service.terminate()
            service.wait()
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_tree)], check=True)
    print(f"machine: {machine()}")
    print(f"upload:  {video.name}, options {options}, {args.rounds} rounds, alternately")
    for name, done in rates.items():
        print(f"{name:>10}: frames/s {[round(r, 1) for r in done]}, median {statistics.median(done):.1f}")
    this, base = (statistics.median(rates[name]) for name in trees)
    print(f"this tree / {args.base} = {this / base:.3f}")


if __name__ == "__main__":
    main()
