"""The training loop shared by teachers and students: a `WeightedSum` loss over batches
of a `FrameDataset`, AdamW with a one-cycle schedule, a checkpoint per epoch, resume.

A distilled student trains with the recipe's loss (`students.loss`, validated with the
config and built when the run starts, `training.students.plan`: KD + CE, optionally
FitNets/AT with a live hint teacher; the KD term at the soft targets' temperature); the
undistilled student and the teachers train with CE alone (the same loop with
`hard_labels()`). Device: CUDA if available (with AMP), else CPU with the channels_last
layout (1.2-1.7x the images/s of NCHW in training, measured on 2 CPU cores).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Sampler

from training import distributed
from training.config import Recipe
from training.data.frameset import FrameDataset, FrameSet, to_tensor
from training.distributed import World
from training.losses import DistillOutputs, WeightedSum, build_loss
from training.nets import BinaryClassifier

log = logging.getLogger(__name__)


def prepare(model: nn.Module, device: torch.device) -> nn.Module:
    """Move to `device`; channels_last on the CPU."""
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if device.type == "cpu" else model


def hard_labels() -> WeightedSum:
    """Cross-entropy on the labels alone: teachers and the undistilled student."""
    return build_loss({"ce": {"weight": 1.0}})


@dataclass
class Hint:
    """A teacher run live for feature terms, on the batch resized to its input `size`."""

    teacher: BinaryClassifier
    size: int


class Objective(nn.Module):
    """A net and its loss as one module, what DDP replicates: the loss's own parameters (a
    FitNets regressor) are averaged over the ranks with the net's. The hint teacher stays
    outside (frozen, it takes no part): its feature map comes in as `teacher`."""

    def __init__(self, net: BinaryClassifier, loss: WeightedSum) -> None:
        super().__init__()
        self.net, self.loss = net, loss

    def forward(self, x: torch.Tensor, y: torch.Tensor, soft: torch.Tensor, teacher: torch.Tensor | None,
                ) -> tuple[torch.Tensor, dict[str, float]]:
        if teacher is None:
            return self.loss(DistillOutputs(self.net(x), targets=y, teacher_probs=soft))
        features = self.net.forward_intermediates(x)
        return self.loss(DistillOutputs(self.net.forward_head(features[-1]), targets=y, teacher_probs=soft,
                                        student_features=[features[-1]], teacher_features=[teacher]))


class RankShare(Sampler[int]):
    """This rank's share of an epoch's shuffle: the permutation `RandomSampler` draws from
    `generator` when iterated, less its last n mod N items, dealt as `DistributedSampler`
    deals (rank r takes items r, r + N, r + 2N, ...). Batch k of B/N items on each of N ranks
    thus holds, together, the items of batch k of B in one process, where it is
    `RandomSampler` itself."""

    def __init__(self, n: int, world: World, generator: torch.Generator) -> None:
        self.n, self.world, self.generator = n, world, generator

    def __len__(self) -> int:
        return self.n // self.world.size

    def __iter__(self) -> Iterator[int]:
        order = torch.randperm(self.n, generator=self.generator).tolist()
        return iter(order[self.world.rank : self.world.size * len(self) : self.world.size])


def fit(model: BinaryClassifier, loss: WeightedSum, data: FrameDataset, recipe: Recipe,
        out: Path, seed: int, device: torch.device, desc: str, hint: Hint | None = None,
        ) -> BinaryClassifier:
    """Train `model` in place; `out/model.pt` holds the result (returned at once if it is
    there), `out/last.pt` the latest epoch's full state (resumed from if present).

    Under DDP (`training.distributed`) every rank runs this on the same data: each takes
    `recipe.batch_size / N` items of every batch (`RankShare`; the batch stays the
    recipe's), draws its own flips and dropout (`rank_seed`), and ends each epoch with the
    ranks' buffers averaged and a check that every rank holds the same weights; rank 0
    alone writes."""
    final = out / "model.pt"
    if final.is_file():
        model.load_state_dict(torch.load(final, map_location="cpu", weights_only=True))
        return model.eval()
    world = distributed.world()
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(distributed.rank_seed(seed))
    objective = Objective(prepare(model, device), loss.to(device))
    step = distributed.replicated(objective, device)
    trained: Objective = getattr(step, "module", step)  # DDP's copy with SyncBatchNorm on CUDA
    steps = max(1, data.longest() // recipe.batch_size)
    optimizer = torch.optim.AdamW(trained.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=recipe.lr, total_steps=max(1, recipe.epochs) * steps, pct_start=0.15)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda")
    state = {"model": trained.net, "loss": trained.loss, "optimizer": optimizer, "schedule": schedule,
             "scaler": scaler}
    start = _resume(out / "last.pt", state, world)
    for epoch in range(start, recipe.epochs):
        started = time.perf_counter()
        data.set_view(epoch)
        generator = torch.Generator().manual_seed(seed + epoch)
        loader = DataLoader(data, batch_size=recipe.batch_size // world.size,
                            sampler=RankShare(len(data), world, generator),
                            drop_last=len(data) > recipe.batch_size, generator=generator)
        trained.train()
        losses = []
        bar = distributed.progress(loader, f"{desc} {epoch + 1}/{recipe.epochs}", leave=False)
        for x, y, soft in bar:
            x, y, soft = _to(x, device), y.to(device), soft.to(device)
            with distributed.bounded(f"{desc} epoch {epoch + 1}"):  # DDP's all-reduces
                with torch.autocast(device.type, enabled=device.type == "cuda"):
                    total, parts = step(x, y, soft, _teacher_features(hint, x))
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(total).backward()
            scaler.step(optimizer)
            scaler.update()
            schedule.step()
            losses.append(float(total.detach()))
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
        mean, rngs = _end_epoch(trained, losses, f"{desc} epoch {epoch + 1}")
        log.info("%s epoch %d/%d: %.1f s, mean loss %.4f (last batch: %s)", desc, epoch + 1,
                 recipe.epochs, time.perf_counter() - started, mean, parts)
        if world.main:
            _save(out / "last.pt", state, epoch, rngs)
    del step  # DDP's hooks on the parameters go with it
    if trained is not objective:
        objective.load_state_dict(trained.state_dict())
    model = model.to(memory_format=torch.contiguous_format).cpu().eval()
    if world.main:
        torch.save(model.state_dict(), final)
    distributed.barrier(f"{desc}: rank 0 writes {final}")
    return model


def _teacher_features(hint: Hint | None, x: torch.Tensor) -> torch.Tensor | None:
    """The hint teacher's last feature map on `x` resized to its input (None without one)."""
    if hint is None:
        return None
    with torch.no_grad():
        teacher_x = F.interpolate(x, size=(hint.size, hint.size), mode="bilinear",
                                  antialias=True, align_corners=False)
        return hint.teacher.forward_intermediates(teacher_x)[-1]


def _end_epoch(trained: Objective, losses: list[float], what: str) -> tuple[float, list[torch.Tensor]]:
    """The epoch's mean loss over every rank's batches and every rank's RNG state; under DDP
    first the ranks' buffers averaged (BatchNorm's running statistics), then a check that
    they hold the same weights (a sha256 of the state, logged)."""
    distributed.average_buffers(trained, what)
    digest = state_digest(trained) if distributed.world().size > 1 else ""
    ends = distributed.gather((digest, sum(losses), len(losses), torch.get_rng_state()), what)
    if digest:
        log.info("%s: weights sha256 %s", what, digest)
    if {d for d, *_ in ends} != {digest}:
        raise distributed.DistributedError(f"{what}: the ranks' weights differ: {[d for d, *_ in ends]}")
    return sum(e[1] for e in ends) / max(1, sum(e[2] for e in ends)), [e[3] for e in ends]


def state_digest(module: nn.Module) -> str:
    """sha256 over `module`'s state (parameters and buffers, in state-dict order)."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _to(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if device.type == "cpu" else x


def _save(path: Path, state: dict[str, Any], epoch: int, rngs: list[torch.Tensor]) -> None:
    """Every object's state, the epoch and the ranks' RNG states: `rng` rank 0's (the one
    process's), `rank_rngs` the other ranks' under DDP."""
    blob = {name: obj.state_dict() for name, obj in state.items()}
    blob |= {"epoch": epoch, "rng": rngs[0]} | ({"rank_rngs": rngs[1:]} if len(rngs) > 1 else {})
    tmp = path.with_suffix(".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)


def _resume(path: Path, state: dict[str, Any], world: World) -> int:
    """Restore `state` and this rank's RNG from `path`; the first epoch still to run (0
    without a checkpoint)."""
    if not path.is_file():
        return 0
    blob = torch.load(path, map_location="cpu", weights_only=True)
    rngs = [blob["rng"], *blob.get("rank_rngs", [])]
    if len(rngs) != world.size:
        raise RuntimeError(f"{path} was written by a run on {len(rngs)} processes; resume it on as many")
    for name, obj in state.items():
        obj.load_state_dict(blob[name])
    torch.set_rng_state(rngs[world.rank])
    log.info("resumed %s after epoch %d", path, blob["epoch"] + 1)
    return int(blob["epoch"]) + 1


@torch.no_grad()
def predict_logits(model: BinaryClassifier, frames: FrameSet, device: torch.device,
                   params: np.ndarray | None = None, batch_size: int = 64,
                   desc: str | None = None) -> np.ndarray:
    """(N, 2) float32 logits of `model` on `frames` (under augmentation `params` if given)."""
    model = prepare(model, device).eval()
    out = []
    starts = range(0, len(frames), batch_size)
    for i in distributed.progress(starts, desc, leave=False):
        chunk = None if params is None else params[i : i + batch_size]
        x = _to(to_tensor(frames.frames[i : i + batch_size], chunk), device)
        with torch.autocast(device.type, enabled=device.type == "cuda"):
            out.append(model(x).float().cpu())
    model.to(memory_format=torch.contiguous_format).cpu()
    return torch.cat(out).numpy() if out else np.zeros((0, 2), np.float32)
