"""Heatmap benchmark: what heatmap=true costs screening.

In one run, on bench/pipeline.py's clip (a generated 720p H.264 clip of 300 frames at
~5 Mb/s; or --video), every frame screened: the same upload over real HTTP to one service
(the same model, the same batcher), with heatmap=true and without, alternating which goes
first each round. Also the engine alone, in this process: batches of --batch frames at the
model's size through `predict` (logits fetched) and `predict_with_attention` (logits and
the map), alternating. Prints frames/s of each side by side as medians, the ratio on / off
of the medians and the median of each round's ratio (the two runs of a round ran back to
back, so drift on a shared machine cancels), and the answers' sizes.

The model must have an attention output: the shipped student once retrained, or --export,
an untrained patchnet_s at 160 px exported as training exports students (its speed does
not depend on its weights; torch needed).

    python bench/heatmap.py [--model M.onnx | --export] [--video clip.mp4] [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
from common import ROOT, end_to_end_fps, machine, make_clip, start_service

sys.path.insert(0, str(ROOT))
from app.contract.predictor import Predictor  # noqa: E402

SHIPPED = ROOT / "models" / "distilscreen-student.onnx"
CPU = ["CPUExecutionProvider"]
ON = {"heatmap": "true"}


def export_untrained(path: Path, size: int = 160) -> Path:
    """patchnet_s with its initial weights, exported with its attention output."""
    import torch

    from training.modelfile.exporter import export_student
    from training.nets import NETS

    torch.manual_seed(0)
    frames = np.random.default_rng(0).integers(0, 256, (8, size, size, 3), dtype=np.uint8)
    export_student(NETS.build("patchnet_s").eval(), path, name="patchnet_s-untrained", version="bench",
                   frames=frames)
    return path


def engine_fps(engine: Predictor, frames: np.ndarray, maps: bool, seconds: float = 1.0) -> float:
    """Frames/s of the engine alone over `frames` (one batch), for about `seconds`."""
    run = engine.predict_with_attention if maps else engine.predict
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        run(frames)
        done += len(frames)
    return done / (time.perf_counter() - started)


def alternating(rounds: int, measure: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Each of `measure`'s callables once a round, the first going second every other round."""
    names = list(measure)
    runs: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        for name in names if round_ % 2 == 0 else names[::-1]:
            runs[name].append(measure[name]())
    return runs


def report(label: str, runs: dict[str, list[float]]) -> None:
    on, off = (statistics.median(runs[side]) for side in ("on", "off"))
    paired = statistics.median(a / b for a, b in zip(runs["on"], runs["off"], strict=True))
    print(f"{label:12s} off {off:9.1f} frames/s  on {on:9.1f} frames/s  on/off {on / off:.3f}  "
          f"paired {paired:.3f}")
    print(f"             runs off {[round(x, 1) for x in runs['off']]}")
    print(f"             runs on  {[round(x, 1) for x in runs['on']]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--model", type=Path, default=SHIPPED, help="a model with an attention output")
    source.add_argument("--export", action="store_true", help="an untrained patchnet_s at 160 px, exported")
    parser.add_argument("--video", type=Path, help="video (default: bench/pipeline.py's clip)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch", type=int, default=32, help="the engine's batch (the service's default)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp())
    model = export_untrained(folder / "student.onnx") if args.export else args.model
    engine = Predictor.load(model, CPU)  # threads as the service's default: ORT's choice
    if engine.card.output.attention is None:
        raise SystemExit(f"{model} has no attention output (card output.extra): give --model or --export")
    video = args.video or make_clip(folder / "bench-720p.mp4")
    spec = engine.card.input
    frames = np.random.default_rng(0).integers(0, 256, (args.batch, spec.height, spec.width, 3), np.uint8)
    for maps in (False, True):  # warm-up
        engine_fps(engine, frames, maps, seconds=0.2)
    alone = alternating(args.rounds, {"off": lambda: engine_fps(engine, frames, False),
                                      "on": lambda: engine_fps(engine, frames, True)})

    port = 18700 + os.getpid() % 1000
    url = f"http://127.0.0.1:{port}"
    service = start_service(port, model=model)
    try:
        sizes = {side: len(httpx.post(f"{url}/v1/screen", content=video.read_bytes(), timeout=600,
                                      headers={"content-type": "video/mp4"},
                                      params={"max_frames": 10_000} | options).content)
                 for side, options in (("off", {}), ("on", ON))}  # also warms the service
        uploads = alternating(args.rounds, {"off": lambda: end_to_end_fps(url, video)[0],
                                            "on": lambda: end_to_end_fps(url, video, ON)[0]})
    finally:
        service.terminate()
        service.wait()
    card = engine.card
    print(f"machine:     {machine()}")
    print(f"model:       {model.name} ({card.name} {card.version}, {spec.width}x{spec.height}); video "
          f"{video.stat().st_size / 1e6:.1f} MB, every frame; {args.rounds} rounds, on/off alternating "
          "first; medians")
    report("engine alone", alone)
    report("one upload", uploads)
    print(f"answer size  off {sizes['off'] / 1e3:.1f} kB  on {sizes['on'] / 1e3:.1f} kB")


if __name__ == "__main__":
    main()
