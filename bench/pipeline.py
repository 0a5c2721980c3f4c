"""Service pipeline benchmark: is one upload screened at the speed decode and inference allow?

In one run, on one video (default: a generated 720p H.264 clip of 300 frames at ~5 Mb/s),
measure
  D  decode + resize-only frames/s (the service's own decoder, every frame),
  I  inference-only frames/s (the service's engine, batches of max_batch_size),
  E  end-to-end frames/s of the same upload to the service over real HTTP (decoding in
     worker processes, as configured),
  E0 the same with decoding in the service's process (DISTILSCREEN_DECODE_WORKERS=0),
and print E / B, where B = 1 / (1/D + 1/I) when inference shares the CPU cores with
decoding, min(D, I) when it runs on a GPU, and E / E0, the cost of isolation. Each figure
is the median of --repeats runs.

    python bench/pipeline.py [--video clip.mp4] [--url http://host:port] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

import av
from common import (
    IN_PROCESS,
    decode_fps,
    end_to_end_fps,
    inference_fps,
    limits_of,
    machine,
    make_clip,
    start_service,
)

from app.config import Settings
from app.inference.engine import Engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, help="video to use (default: a generated 720p clip)")
    parser.add_argument("--url", help="a running service (default: start one with the DISTILSCREEN_* env; "
                        "with --url, E0 is not measured)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    settings = Settings()
    engine = Engine.from_settings(settings)
    limits = limits_of(settings)
    video = args.video or make_clip(Path(tempfile.mkdtemp()) / "bench-720p.mp4")
    port = 18000 + os.getpid() % 1000
    services = [] if args.url else [start_service(port), start_service(port + 1, env=IN_PROCESS)]
    url = args.url or f"http://127.0.0.1:{port}"
    local_url = None if args.url else f"http://127.0.0.1:{port + 1}"
    try:
        for warm in (url, local_url):  # warm every side once
            if warm:
                end_to_end_fps(warm, video)
        d_runs, i_runs, e_runs, e0_runs = [], [], [], []
        for _ in range(args.repeats):  # interleaved, so drift on a shared machine hits all four
            d, frames = decode_fps(video, engine, limits)
            d_runs.append(d)
            i_runs.append(inference_fps(engine, frames, settings.max_batch_size))
            e, screened = end_to_end_fps(url, video)
            e_runs.append(e)
            if local_url:
                e0_runs.append(end_to_end_fps(local_url, video)[0])
    finally:
        for service in services:
            service.terminate()
            service.wait()
    d, i, e = (statistics.median(r) for r in (d_runs, i_runs, e_runs))
    on_gpu = engine.providers[0] != "CPUExecutionProvider"
    bound = min(d, i) if on_gpu else 1 / (1 / d + 1 / i)
    with av.open(str(video)) as c:
        s = c.streams.video[0]
        facts = (
            f"{s.codec_context.name} {s.codec_context.width}x{s.codec_context.height}, {screened} frames, "
            f"{video.stat().st_size * 8 / float(s.duration * s.time_base) / 1e6:.1f} Mb/s"
        )
    print(f"machine:   {machine()}")
    card = engine.card
    print(
        f"model:     {card.name} {card.version} @ {card.input.width}x{card.input.height}"
        f" on {engine.providers}, batch {settings.max_batch_size}"
    )
    print(f"video:     {facts}")
    print(f"D decode+resize  {d:8.1f} frames/s   runs {[round(x, 1) for x in d_runs]}")
    print(f"I inference      {i:8.1f} frames/s   runs {[round(x, 1) for x in i_runs]}")
    rule = "min(D, I): GPU" if on_gpu else "1/(1/D + 1/I): shared CPU"
    print(f"B bound          {bound:8.1f} frames/s   ({rule})")
    print(f"E end-to-end     {e:8.1f} frames/s   runs {[round(x, 1) for x in e_runs]}")
    if e0_runs:
        e0 = statistics.median(e0_runs)
        print(f"E0 in-process    {e0:8.1f} frames/s   runs {[round(x, 1) for x in e0_runs]}")
    print(f"E / B = {e / bound:.3f}   (target >= 0.9, decoding in worker processes)")
    if e0_runs:
        print(f"E0 / B = {e0 / bound:.3f}   E / E0 = {e / e0:.3f}   (the cost of isolation)")


if __name__ == "__main__":
    main()
