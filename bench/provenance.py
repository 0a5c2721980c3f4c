"""Content credentials benchmark: what reading C2PA provenance adds to screening one upload.

In one run, on bench/pipeline.py's clip (a generated 720p H.264 clip of 300 frames at
~5 Mb/s; or --video) and on the same clip signed with a C2PA manifest (a chain made here),
time the upload end to end over real HTTP against two services started side by side, one
with DISTILSCREEN_C2PA on (the default) and one with it off, alternating which goes first
each round. Also time the credential read alone, in this process. Prints the medians, on /
off - 1 of the medians and the median of each round's on / off - 1 (the two uploads of a
round ran back to back, so drift on a shared machine cancels), for each clip (the target:
<= 2%). On a shared machine the end-to-end difference is within the noise: the read alone
says what the credentials cost.

    python bench/provenance.py [--video clip.mp4] [--rounds 7]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import end_to_end_fps, machine, make_clip, start_service

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app.provenance.reader import CredentialReader  # noqa: E402
from tests.app.provenance.signing import Chain, sign  # noqa: E402

OFF = {"DISTILSCREEN_C2PA": "false"}


def upload_s(url: str, video: Path) -> float:
    """Seconds to screen every frame of one upload over HTTP, upload included."""
    fps, screened = end_to_end_fps(url, video)
    return screened / fps


def read_ms(video: Path, repeats: int = 20) -> float:
    """Median milliseconds of one credential read of `video` (from memory), nothing else."""
    reader = CredentialReader.from_settings(True, None)
    assert reader is not None
    data, runs = video.read_bytes(), []
    for _ in range(repeats):
        started = time.perf_counter()
        reader.read(io.BytesIO(data))
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, help="video (default: bench/pipeline.py's clip)")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp())
    video = args.video or make_clip(folder / "bench-720p.mp4")
    signed = folder / "signed.mp4"
    signed.write_bytes(sign(Chain.make(), video.read_bytes(), "video/mp4"))
    clips = {"unsigned": video, "signed": signed}
    port = 18500 + os.getpid() % 1000
    services = [start_service(port), start_service(port + 1, env=OFF)]
    urls = {"on": f"http://127.0.0.1:{port}", "off": f"http://127.0.0.1:{port + 1}"}
    runs: dict[tuple[str, str], list[float]] = {(c, s): [] for c in clips for s in urls}
    try:
        for url in urls.values():  # warm both once
            upload_s(url, video)
        for round_ in range(args.rounds):
            for clip, path in clips.items():
                for side in ("on", "off") if round_ % 2 == 0 else ("off", "on"):
                    runs[clip, side].append(upload_s(urls[side], path))
    finally:
        for service in services:
            service.terminate()
            service.wait()
    print(f"machine:   {machine()}")
    print(f"video:     {video.stat().st_size / 1e6:.1f} MB, signed {signed.stat().st_size / 1e6:.1f} MB; "
          f"{args.rounds} rounds, on/off alternating first; medians")
    for clip, path in clips.items():
        on, off = (statistics.median(runs[clip, side]) for side in ("on", "off"))
        paired = statistics.median(a / b for a, b in zip(runs[clip, "on"], runs[clip, "off"], strict=True))
        alone = read_ms(path)
        print(f"{clip:9s} off {off:6.3f} s  on {on:6.3f} s  on/off - 1 = {on / off - 1:+.2%}  "
              f"paired {paired - 1:+.2%}  read alone {alone:6.2f} ms = {alone / 1000 / off:.2%} of screening")
        print(f"          runs off {[round(x, 3) for x in runs[clip, 'off']]}")
        print(f"          runs on  {[round(x, 3) for x in runs[clip, 'on']]}")


if __name__ == "__main__":
    main()
