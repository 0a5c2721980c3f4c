"""`training.loop.fit` on tiny fake clips, one process or one rank of torchrun's job, for
the tests beside it: `python fit_worker.py OUT [--batchnorm] [--flip] [--kill-at N] [--stall]`.
The net is a conv and a linear head (with BatchNorm between if asked); the data two views
of 6 clips x 5 random 16 px frames (mirrored at random if asked: torch's RNG, per rank)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from training.config import Recipe
from training.data import Sample
from training.data.frameset import FrameDataset, FrameSet
from training.distributed import Timeouts, joined, world
from training.loop import fit, hard_labels

CPU = torch.device("cpu")
RECIPE = Recipe(epochs=3, batch_size=8, lr=1e-2)


class KillingDataset(FrameDataset):
    """Rank 1 SIGKILLs itself on its item `kill_at` (counting across epochs): a rank that dies."""

    def __init__(self, *args: object, kill_at: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.left = kill_at

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, torch.Tensor]:
        self.left -= 1
        if self.left < 0 and world().rank == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().__getitem__(i)


def clips(videos: int = 6, per_video: int = 5) -> FrameSet:
    rng = np.random.default_rng(0)
    samples = tuple(Sample(Path(f"/data/{j}.mp4"), j % 2, "train", f"g{j}", "test") for j in range(videos))
    video = np.repeat(np.arange(videos), per_video)
    return FrameSet(rng.integers(0, 256, (len(video), 16, 16, 3), dtype=np.uint8), video % 2, video,
                    samples, tuple(f"clip{j}" for j in range(videos)))


def net(batchnorm: bool) -> nn.Module:
    torch.manual_seed(0)
    norm = [nn.BatchNorm2d(8)] if batchnorm else []
    return nn.Sequential(nn.Conv2d(3, 8, 3), *norm, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, 2))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--batchnorm", action="store_true")
    parser.add_argument("--flip", action="store_true")
    parser.add_argument("--kill-at", type=int, help="rank 1 kills itself on this item")
    parser.add_argument("--stall", action="store_true", help="rank 1 sleeps instead of training")
    parser.add_argument("--timeout", type=float, default=60.0, help="the collective timeout")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    with joined(CPU, Timeouts(args.timeout, stage=60.0)):  # the ranks meet within the larger bound
        if args.stall and world().rank == 1:
            time.sleep(600)
        views = [clips(), clips()]
        data = (FrameDataset(views, 0, random_flip=args.flip) if args.kill_at is None
                else KillingDataset(views, 0, random_flip=args.flip, kill_at=args.kill_at))
        fit(net(args.batchnorm), hard_labels(), data, RECIPE, args.out, 0, CPU, "toy")


if __name__ == "__main__":
    main()
