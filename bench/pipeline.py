"""Service pipeline benchmark: is one upload screened at the speed decode and inference allow?

In one run, on one video (default: a generated 720p H.264 clip of 300 frames at ~5 Mb/s),
measure
  D  decode + resize-only frames/s (the service's own decoder, every frame),
  I  inference-only frames/s (the service's engine, batches of max_batch_size),
  E  end-to-end frames/s of the same upload to the service over real HTTP,
and print E / B, where B = 1 / (1/D + 1/I) when inference shares the CPU cores with
decoding, min(D, I) when it runs on a GPU. Each figure is the median of --repeats runs.

    python bench/pipeline.py [--video clip.mp4] [--url http://host:port] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

import av
from common import decode_fps, end_to_end_fps, inference_fps, limits_of, machine, make_clip, start_service

from app.config import Settings
from app.inference.engine import Engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, help="video to use (default: a generated 720p clip)")
    parser.add_argument("--url", help="a running service (default: start one with the DISTILSCREEN_* env)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    settings = Settings()
    engine = Engine.from_settings(settings)
    limits = limits_of(settings)
    video = args.video or make_clip(Path(tempfile.mkdtemp()) / "bench-720p.mp4")
    service = None if args.url else start_service(port := 18000 + os.getpid() % 1000)
    url = args.url or f"http://127.0.0.1:{port}"
    try:
        end_to_end_fps(url, video)  # warm both sides once
        d_runs, i_runs, e_runs = [], [], []
        for _ in range(args.repeats):  # interleaved, so drift on a shared machine hits all three
            d, frames = decode_fps(video, engine, limits)
            d_runs.append(d)
            i_runs.append(inference_fps(engine, frames, settings.max_batch_size))
            e, screened = end_to_end_fps(url, video)
            e_runs.append(e)
    finally:
        if service is not None:
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
    print(f"E / B = {e / bound:.3f}   (target >= 0.85)")


if __name__ == "__main__":
    main()
