"""How much a degradation leaves to learn: one teacher fine-tuned, as the run's recipe
fine-tunes its teachers, on the run's teacher clips clean, all re-encoded at CRF 35, or all
at half scale, then tested on the run's test clips under each of the three conditions
(the report's conditions, through the same code).

A model trained and tested under one condition (the table's diagonal) shows about the best
this net reaches under it on this data, so the diagonal bounds the robustness a model
trained on a mix of views can have: e.g. if the CRF 35 diagonal is 0.15 under the clean
one, no model of this kind keeps within 0.08 of its clean AUC at CRF 35.

    python bench/robustness_ceiling.py RUN [--member mobilenetv2_100] [--epochs 3]

RUN is a finished `distilscreen distill` run folder: its data, frame cache and config are
reused, the checkpoints go to RUN/ceiling/ (a second call reuses them).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from common import machine

from training.config import Recipe
from training.data import UNLABELLED, FrameCache
from training.data.faces import face_sampler
from training.data.frameset import FrameDataset, FrameSet, load_frames
from training.data.stage import split_samples, teacher_samples
from training.degrade import Degradation
from training.evaluation.robustness import DEFAULT_CONDITIONS
from training.loop import fit, hard_labels, predict_logits
from training.run import Run, load_run_config, pick_device
from training.scoring.metrics import frame_auc
from training.teachers.members import build_teacher

CONDITIONS: dict[str, Degradation] = {"clean": ()} | {
    c.name: c.steps for c in DEFAULT_CONDITIONS if c.name in ("crf35", "scale0.5")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--member", default="mobilenetv2_100", help="a teacher of the run's config")
    parser.add_argument("--epochs", type=int, default=None, help="default: the run's teachers.epochs")
    args = parser.parse_args()
    config, _ = load_run_config(args.run)
    run = Run(config, args.run, pick_device(config.device))
    [spec] = [m for m in config.teachers.members if m.name == args.member]
    samples = split_samples(run)
    train = teacher_samples([s for s in samples if s.split == "train" and s.label != UNLABELLED],
                            config.teachers.holdout, config.seed)
    test = [s for s in samples if s.split == "test"]
    cache = FrameCache(run.cache_dir / "frames", faces=face_sampler(config.data.crop))

    def frames(chosen: list, n: int, steps: Degradation) -> FrameSet:
        return load_frames(chosen, cache, n, spec.size, config.seed, [steps] * len(chosen) if steps else ())

    n_test = config.data.eval_frames_per_video
    tests = {name: frames(test, n_test, steps) for name, steps in CONDITIONS.items()}
    recipe = Recipe(epochs=args.epochs or spec.epochs or config.teachers.epochs,
                    batch_size=config.teachers.batch_size, lr=spec.lr or config.teachers.lr,
                    weight_decay=config.teachers.weight_decay)
    table: dict[str, dict[str, float]] = {}
    for trained_on, steps in CONDITIONS.items():
        fitted = frames(train, config.data.frames_per_video, steps)
        torch.manual_seed(config.seed)
        net = fit(build_teacher(spec), hard_labels(), FrameDataset([fitted] * recipe.epochs, config.seed),
                  recipe, args.run / "ceiling" / f"{args.member}-{trained_on}", config.seed, run.device,
                  desc=f"{args.member} on {trained_on}")
        table[trained_on] = {name: auc(net, f, run.device) for name, f in tests.items()}
    print(f"{args.member}, {recipe.epochs} epochs on {len(train)} clips; frame AUC on {len(test)} test "
          f"clips; {machine()}")
    print("| trained on \\ tested on | " + " | ".join(CONDITIONS) + " |")
    print("|---" * (len(CONDITIONS) + 1) + "|")
    for trained_on, row in table.items():
        print(f"| {trained_on} | " + " | ".join(f"{row[c]:.4f}" for c in CONDITIONS) + " |")
    clean = table["clean"]["clean"]
    for name in CONDITIONS:
        if name != "clean":
            print(f"{name}: matched {table[name][name]:.4f}, {clean - table[name][name]:.4f} under clean "
                  f"on clean ({clean:.4f})")


def auc(net: torch.nn.Module, frames: FrameSet, device: torch.device) -> float:
    """Frame AUC of p(synthetic) from the net's logits."""
    logits = predict_logits(net, frames, device)
    return frame_auc(frames.labels, torch.softmax(torch.from_numpy(logits), 1)[:, 1].numpy())


if __name__ == "__main__":
    main()
