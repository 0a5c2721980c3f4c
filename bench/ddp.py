"""DDP benchmark: a teacher epoch and a student epoch on 1 process and on N under torchrun.

In one run, alternating which goes first each round: `training.loop.fit` trains the
default preset's first teacher (MobileNetV2 at 160 px) for one epoch on hard labels, then
its student (PatchNet-S at 160 px) for one epoch on KD + CE, on --frames random frames
(decoding is not timed) at the preset's global batch of 32 (or --batch); once in one
process (all its threads) and once on --nproc processes (`torchrun --standalone`: gloo on
the CPU, NCCL on CUDA, each rank 1/N of every batch). Prints each epoch's median wall time side by side, the
ratio, and every round. On a 2-core machine 2 processes cannot be faster: the figures say
what DDP costs there, and that it runs.

    python bench/ddp.py [--nproc 2] [--rounds 3] [--frames 512] [--batch 32] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from common import ROOT, machine

sys.path.insert(0, str(ROOT))
EPOCHS = ("teacher", "student")


def worker(out: Path, frames: int, batch: int, device_name: str) -> None:
    """One epoch of each net in this process (one rank under torchrun); rank 0 writes the
    wall times to `out` as JSON."""
    import numpy as np

    from training import distributed
    from training.config import load_config
    from training.data import Sample
    from training.data.frameset import FrameDataset, FrameSet
    from training.loop import fit, hard_labels
    from training.run import pick_device
    from training.students.plan import plan_students
    from training.teachers.members import build_teacher

    config = load_config("default")
    teacher_spec, student = config.teachers.members[0], plan_students(config)[0]
    rng = np.random.default_rng(0)
    clips = frames // 8
    samples = tuple(Sample(Path(f"/bench/{j}.mp4"), j % 2, "train", f"g{j}", "bench") for j in range(clips))
    video = np.repeat(np.arange(clips), 8)

    def data(size: int, soft: bool) -> FrameDataset:
        pixels = rng.integers(0, 256, (len(video), size, size, 3), dtype=np.uint8)
        views = [FrameSet(pixels, video % 2, video, samples, tuple(s.group for s in samples))]
        targets = [np.full((len(video), 2), 0.5, np.float32)] if soft else None
        return FrameDataset(views, 0, targets, random_flip=True)

    timeouts = distributed.Timeouts(600.0, 600.0)
    with distributed.joined(pick_device(device_name), timeouts), tempfile.TemporaryDirectory() as tmp:
        device = distributed.rank_device(pick_device(device_name))
        nets = {"teacher": (build_teacher(teacher_spec), hard_labels(), data(teacher_spec.size, False),
                            config.teachers),
                "student": (student.net, student.loss, data(student.size, True), config.students)}
        seconds = {}
        for name, (net, loss, dataset, recipe) in nets.items():
            distributed.barrier(f"{name} epoch: start")
            started = time.perf_counter()
            fit(net, loss, dataset, replace(recipe, epochs=1, batch_size=batch), Path(tmp) / name, 0, device,
                name)
            seconds[name] = time.perf_counter() - started
        if distributed.is_main():
            out.write_text(json.dumps(seconds | {"device": device.type}))


def measure(nproc: int, frames: int, batch: int, device: str) -> dict[str, float]:
    """A worker on `nproc` processes (torchrun for more than one): its epoch times."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "seconds.json"
        args = [__file__, "--worker", str(out), "--frames", str(frames), "--batch", str(batch),
                "--device", device]
        launcher = (["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
                    if nproc > 1 else [])
        env = os.environ | {"PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1"}
        done = subprocess.run([sys.executable, *launcher, *args], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{nproc} process(es) failed:\n{done.stderr[-3000:]}")
        return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, default=2, help="processes of the DDP side (default 2)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--frames", type=int, default=512, help="frames an epoch (default 512)")
    parser.add_argument("--batch", type=int, default=32, help="global batch (default 32, the preset's)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.frames, args.batch, args.device)
        return
    if args.batch % args.nproc:
        raise SystemExit(f"--batch {args.batch}: {args.nproc} processes must share it evenly")
    sides = (1, args.nproc)
    runs: dict[int, list[dict[str, float]]] = {n: [] for n in sides}
    for r in range(args.rounds):
        for n in sides if r % 2 == 0 else sides[::-1]:
            runs[n].append(measure(n, args.frames, args.batch, args.device))
    import torch

    device = runs[1][0]["device"]
    print(f"machine:   {machine()}")
    print(f"torch {torch.__version__}, {device} ({'NCCL' if device == 'cuda' else 'gloo'} across processes), "
          f"{args.frames} frames an epoch, global batch {args.batch}, {args.rounds} rounds alternating")
    print(f"{'epoch':<34}{'1 process':>12}{f'{args.nproc} processes':>14}{'ratio':>8}")
    for name, label in zip(EPOCHS, ("teacher (mobilenetv2_100 @160 px)", "student (patchnet_s @160 px)"),
                           strict=True):
        rounds = [[round(run[name], 2) for run in runs[n]] for n in sides]
        one, many = (statistics.median(r) for r in rounds)
        print(f"{label:<34}{one:>10.2f} s{many:>12.2f} s{many / one:>7.2f}x   "
              f"runs {rounds[0]} vs {rounds[1]}")


if __name__ == "__main__":
    main()
