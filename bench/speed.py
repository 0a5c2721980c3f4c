"""The student's frames/s against the ensemble's, timed again for a finished run.

The run's evaluation times its exported teachers and students side by side once, as the
last step of a long run, on whatever else the machine is doing then. This times the same
files the same way (`training.modelfile.speed.compare_speed`: the service's input pipeline
on the CPU provider, each model in turn each round, medians over rounds), with more
rounds, on a machine left quiet for it. Prints each model's frames/s, the ensemble's
(its teachers one after another) and each student's ratio to it, and the spread of that
ratio over the rounds. Timed beside them: `--also` files (an earlier shipped model, say),
and with `--without-attention`, a copy of each student whose graph ends at its logits
(ONNX Runtime runs every node of a graph, whichever outputs are fetched).

    python bench/speed.py RUN [--rounds 9] [--seconds 2] [--also M.onnx...] [--without-attention]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import onnx
from common import machine

from training.config import load_config
from training.modelfile.cardfile import attach_card, read_card
from training.modelfile.speed import compare_speed, ensemble_frames_per_second


def without_attention(src: Path, dst: Path) -> Path:
    """`src` cut at its logits, its card without the attention output."""
    model = onnx.load(src)
    card = read_card(model, str(src))
    card = card.model_copy(update={"output": card.output.model_copy(update={"extra": {}})})
    cut = onnx.utils.Extractor(model).extract_model([i.name for i in model.graph.input], [card.output.logits])
    onnx.save(attach_card(cut, card), dst)
    return dst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a finished `distilscreen distill` run folder")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--seconds", type=float, default=2.0, help="timed per model and round")
    parser.add_argument("--also", type=Path, nargs="*", default=[], help="more model files, timed beside")
    parser.add_argument("--without-attention", action="store_true", help="each student cut at its logits too")
    args = parser.parse_args()
    config = load_config(args.run / "config.yaml")
    models = sorted((args.run / "onnx").glob("*.onnx"))
    teachers = [m for m in models if m.name.startswith("teacher-")]
    students = [m for m in models if not m.name.startswith("teacher-")]
    if not teachers or not students:
        raise SystemExit(f"{args.run / 'onnx'} holds no teacher-*.onnx or no student")
    batch = config.evaluation.speed_batch
    print(f"{machine()}; batch {batch}, {args.rounds} rounds of {args.seconds:g} s a model")
    with tempfile.TemporaryDirectory() as tmp:
        cut = [without_attention(s, Path(tmp) / f"{s.stem}.without-attention.onnx")
               for s in students if args.without_attention]
        timed = [*models, *cut, *args.also]
        per_round = [compare_speed(timed, batch_size=batch, rounds=1, seconds=args.seconds)
                     for _ in range(args.rounds)]
    fps = {m: statistics.median(r[i] for r in per_round) for i, m in enumerate(timed)}
    ensemble = ensemble_frames_per_second([fps[t] for t in teachers])
    for model in timed:
        print(f"{model.stem:48s} {fps[model]:9.1f} frames/s")
    print(f"{'ensemble (teachers in turn)':48s} {ensemble:9.1f} frames/s")
    for student in students:
        i = models.index(student)
        ratios = sorted(r[i] / ensemble_frames_per_second([r[models.index(t)] for t in teachers])
                        for r in per_round)
        print(f"{student.stem}: {fps[student] / ensemble:.1f}x the ensemble "
              f"(rounds: {ratios[0]:.1f}x to {ratios[-1]:.1f}x, median {statistics.median(ratios):.1f}x)")


if __name__ == "__main__":
    main()
