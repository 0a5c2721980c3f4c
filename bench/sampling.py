"""Sampling benchmark: does screening cost follow the frames screened, not the video's length?

In one run, clips like real uploads (phone-like 1080p H.264 with a 1 s GOP and no B-frames;
x264 defaults, GOP 250 with B-frames; HEVC; an MPEG-TS with a 1 s GOP) are uploaded to the
service over HTTP with each sampling mode: every frame (exact), fps in {2, 1, 0.5, 0.2},
frames=32 and keyframes. Printed per clip and mode: video-seconds screened per second of
wall time, its ratio to every-frame decoding of the same clip, frames screened and decoded,
and the CPU seconds the service and its decoder workers spent. Medians of --repeats,
interleaved.

    python bench/sampling.py [--seconds 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from common import machine, make_clip, start_service

PHONE_GOP = {"g": "30", "keyint_min": "30", "bf": "0"}  # a keyframe a second, as phones record
MODES: dict[str, dict[str, str]] = {
    "every frame": {},
    "fps=2": {"fps": "2"},
    "fps=1": {"fps": "1"},
    "fps=0.5": {"fps": "0.5"},
    "fps=0.2": {"fps": "0.2"},
    "frames=32": {"frames": "32"},
    "keyframes": {"keyframes": "true"},
}


def clips(root: Path, seconds: int) -> dict[str, Path]:
    frames = 30 * seconds
    return {
        "phone 1080p, 1 s GOP": make_clip(root / "phone.mp4", frames, 1920, 1080, options=PHONE_GOP),
        "x264 defaults 720p": make_clip(root / "x264.mp4", frames),
        "HEVC 720p": make_clip(root / "hevc.mp4", frames, codec="libx265",
                               options={"x265-params": "log-level=none"}),
        "MPEG-TS 720p, 1 s GOP": make_clip(root / "clip.ts", frames, container_format="mpegts",
                                           options=PHONE_GOP),
    }


def cpu_seconds(pid: int) -> float:
    """CPU time of the service and of its child processes (the decoder workers) so far."""
    tasks = Path(f"/proc/{pid}/task")
    pids = [pid, *(int(c) for t in tasks.iterdir() for c in (t / "children").read_text().split())]
    ticks = 0
    for p in pids:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def screen(url: str, pid: int, clip: Path, params: dict[str, str]) -> tuple[float, float, dict]:
    """Wall and CPU seconds of one upload, and its answer's video facts."""
    kind = "video/mp2t" if clip.suffix == ".ts" else "video/mp4"
    cpu, started = cpu_seconds(pid), time.perf_counter()
    response = httpx.post(f"{url}/v1/screen", content=clip.read_bytes(), headers={"content-type": kind},
                          params={"max_frames": "10000", **params}, timeout=600)
    wall = time.perf_counter() - started
    response.raise_for_status()
    return wall, cpu_seconds(pid) - cpu, response.json()["video"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="length of each clip")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    made = clips(Path(tempfile.mkdtemp()), args.seconds)
    port = 18500 + os.getpid() % 1000
    service = start_service(port)
    url = f"http://127.0.0.1:{port}"
    runs: dict[tuple[str, str], list[tuple[float, float, dict]]] = {}
    try:
        for clip in made.values():
            screen(url, service.pid, clip, {})  # warm up
        for _ in range(args.repeats):  # interleaved: drift on a shared machine hits every mode
            for name, clip in made.items():
                for mode, params in MODES.items():
                    runs.setdefault((name, mode), []).append(screen(url, service.pid, clip, params))
    finally:
        service.terminate()
        service.wait()
    print(f"machine: {machine()}; clips of {args.seconds} s at 30 fps; medians of {args.repeats}")
    head = ("clip", "mode", "video-s/s", "x exact", "screened", "decoded", "CPU s")
    print(f"{head[0]:24} {head[1]:12} " + " ".join(f"{h:>9}" for h in head[2:]))
    for name in made:
        exact = statistics.median(args.seconds / wall for wall, _, _ in runs[(name, "every frame")])
        for mode in MODES:
            done = runs[(name, mode)]
            rate = statistics.median(args.seconds / wall for wall, _, _ in done)
            cpu = statistics.median(c for _, c, _ in done)
            facts = done[0][2]
            print(f"{name:24} {mode:12} {rate:9.1f} {rate / exact:9.2f} {facts['frames_screened']:9d} "
                  f"{facts['frames_decoded']:9d} {cpu:9.2f}")


if __name__ == "__main__":
    main()
