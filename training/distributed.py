"""The run's process group under torchrun (DistributedDataParallel): which rank this process
is, the few collectives the stages and the training loop need, bounded by timeouts, and
progress bars on rank 0 only.

A run started without torchrun (no WORLD_SIZE, or 1) is one process and joins no group:
every function here is then a no-op and the run is what it always was. Under
`torchrun --nproc-per-node N` each process reads RANK, WORLD_SIZE and LOCAL_RANK and joins
with gloo on the CPU or NCCL on CUDA (one device a process, cuda:LOCAL_RANK). The loop's
collectives run in a group of their own; host-side waits and objects go over gloo (that
same group on the CPU, a gloo group beside NCCL's).

Two bounds (`Timeouts`): `collective`, on every lock-step collective (the loop's
all-reduces, the checks at each epoch's end, barriers), and `stage`, on how long the other
ranks wait while rank 0 alone builds what they all read (`main_first`: the data's caches,
the soft labels). A rank that dies ends the job through torchrun; one that hangs ends it
when a bound runs out, with a `DistributedError` naming this rank and the wait.
"""

from __future__ import annotations

import copy
import inspect
import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

log = logging.getLogger(__name__)
T = TypeVar("T")
RANK_SEED_STRIDE = 10_000  # rank r draws from seed + r * stride: its own flips and dropout


class DistributedError(RuntimeError):
    """A collective that failed or ran out of time: another rank died or hangs."""


@dataclass(frozen=True)
class World:
    """This process's place in the job: rank `rank` of `size`, on device `local_rank` of its node."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> World:
        """torchrun's RANK, WORLD_SIZE and LOCAL_RANK (one process without them)."""
        defaults = {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}
        try:
            rank, size, local = (int(os.environ.get(name, value)) for name, value in defaults.items())
        except ValueError as exc:
            raise ValueError(f"RANK, WORLD_SIZE and LOCAL_RANK must be integers ({exc})") from None
        if not 0 <= rank < size:
            raise ValueError(f"RANK {rank} is not a rank of WORLD_SIZE {size}")
        return cls(rank, size, local)

    @property
    def main(self) -> bool:
        """Rank 0: the one that writes the run's files."""
        return self.rank == 0

    @property
    def tag(self) -> str:
        """'[rank 1/2] ' under DDP, '' in one process: what this rank's log lines start with."""
        return f"[rank {self.rank}/{self.size}] " if self.size > 1 else ""


@dataclass(frozen=True)
class Timeouts:
    """Seconds: `collective` bounds each lock-step collective, `stage` the wait for rank 0's
    stages (`main_first`)."""

    collective: float
    stage: float


@dataclass(frozen=True)
class _Group:
    world: World = World()
    timeouts: Timeouts = Timeouts(0.0, 0.0)
    lockstep: Any = None  # the loop's group: its collectives bounded by `timeouts.collective`
    host: Any = None  # gloo, for host-side waits and objects: `lockstep` itself on the CPU


_group = _Group()  # the group this process has joined
# no buffer broadcast before each forward: torch 2.13's name for it, or the older one
_OWN_BUFFERS = ({"forward_sync_buffers": False}
                if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
                else {"broadcast_buffers": False})


def world() -> World:
    """This process's world (one process when it joined no group)."""
    return _group.world


def is_main() -> bool:
    """Whether this process is rank 0 (always, in one process)."""
    return world().main


@contextmanager
def joined(device: torch.device, timeouts: Timeouts) -> Iterator[World]:
    """The block as one rank of torchrun's job: the process group joined (from torchrun's
    environment; nothing to join in one process), left when the block ends. A block that
    raises leaves it to the process's end, which torchrun sees."""
    global _group
    place = World.from_env()
    if place.size == 1:
        yield place
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(place.local_rank)
    # the default group only meets the ranks: started together, they may import at different speeds
    dist.init_process_group(backend, timeout=timedelta(seconds=max(timeouts.collective, timeouts.stage)))
    bound = timedelta(seconds=timeouts.collective)
    lockstep = dist.new_group(backend=backend, timeout=bound)
    host = dist.new_group(backend="gloo", timeout=bound) if backend == "nccl" else lockstep
    _group = _Group(place, timeouts, lockstep, host)
    log.info("joined as pid %d: %s, %d ranks, timeouts %g s (collectives), %g s (rank 0's stages)",
             os.getpid(), backend, place.size, timeouts.collective, timeouts.stage)
    try:
        yield place
        dist.destroy_process_group()
    finally:
        _group = _Group()


def rank_device(device: torch.device) -> torch.device:
    """This rank's device: cuda:LOCAL_RANK for CUDA under DDP, else `device`."""
    if device.type == "cuda" and world().size > 1:
        return torch.device("cuda", world().local_rank)
    return device


def rank_seed(seed: int) -> int:
    """This rank's seed for its random draws (rank 0's is `seed`, as in one process)."""
    return seed + RANK_SEED_STRIDE * world().rank


@contextmanager
def bounded(what: str, seconds: float | None = None) -> Iterator[None]:
    """Under DDP, a failure in the block's collectives re-raised as a `DistributedError` naming
    this rank, `what` and the bound (default: the collective timeout); in one process, nothing."""
    try:
        yield
    except RuntimeError as exc:
        backend = isinstance(exc, dist.DistError) or "gloo" in str(exc)  # gloo's are plain, from its sources
        if world().size == 1 or isinstance(exc, DistributedError) or not backend:
            raise
        limit = _group.timeouts.collective if seconds is None else seconds
        raise DistributedError(f"{world().tag}{what}: {' '.join(str(exc).split())} (collectives wait at most "
                               f"{limit:g} s: another rank may have died or hang)") from exc


def barrier(what: str) -> None:
    """Wait until every rank is here (within the collective timeout); `what` names the wait."""
    _wait(what, _group.timeouts.collective)


@contextmanager
def main_first(what: str) -> Iterator[None]:
    """Rank 0 runs the block first (writing the files it caches); the other ranks wait for it
    (within the stage timeout), then run it on those files."""
    if not is_main():
        _wait(f"waiting for rank 0: {what}", _group.timeouts.stage)
    yield
    if is_main():
        _wait(f"rank 0 done: {what}", _group.timeouts.stage)


def _wait(what: str, seconds: float) -> None:
    if world().size == 1:
        return
    with bounded(what, seconds):
        dist.monitored_barrier(group=_group.host, timeout=timedelta(seconds=seconds))


def gather(value: T, what: str) -> list[T]:
    """Every rank's `value` (picklable), in rank order, on every rank ([value] in one process)."""
    if world().size == 1:
        return [value]
    out: list[Any] = [None] * world().size
    with bounded(what):
        dist.all_gather_object(out, value, group=_group.host)
    return out


def replicated(module: nn.Module, device: torch.device) -> nn.Module:
    """`module` under DDP: its gradients averaged over the ranks in each backward; on CUDA
    first a copy with SyncBatchNorm, whose batch statistics are the global batch's. Torch's
    SyncBatchNorm runs on GPUs only: on the CPU each rank normalises by its own share of the
    batch. Buffers stay each rank's own (`average_buffers` joins them); in one process,
    `module` itself."""
    if world().size == 1:
        return module
    if device.type == "cuda":
        module = nn.SyncBatchNorm.convert_sync_batchnorm(copy.deepcopy(module), _group.lockstep)
    ids = [device.index] if device.type == "cuda" else None
    with bounded("replicating the model from rank 0"):
        return DistributedDataParallel(module, device_ids=ids, process_group=_group.lockstep, **_OWN_BUFFERS)


def average_buffers(module: nn.Module, what: str) -> None:
    """The mean over the ranks of each floating-point buffer of `module`, on every rank.
    BatchNorm's running mean is then the running mean of the global batches' means (the
    average of the ranks' running means, as both are linear in the batch means); its running
    variance the mean of the ranks' (less the spread between the ranks' means)."""
    if world().size == 1:
        return
    with bounded(what):
        for buffer in module.buffers():
            if buffer.is_floating_point():
                dist.all_reduce(buffer, group=_group.lockstep)
                buffer.div_(world().size)


def progress(iterable: Iterable[T], desc: str | None, **kwargs: Any) -> Iterable[T]:
    """`iterable` with a tqdm bar named `desc`, on rank 0 only (and, as tqdm's
    disable=None, only on a terminal); no bar without a `desc`."""
    return tqdm(iterable, desc=desc, disable=None if desc and is_main() else True, **kwargs)
