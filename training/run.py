"""A run: its config, its folder and the folder's layout, its device. Every stage takes a
`Run`; this module imports none of them.

    RUN/config.yaml          the resolved config + provenance (git commit, data and config hash,
                             world size and device)
    RUN/data/, RUN/unlabelled/   the built-in benchmark, when the config has no data.path
    RUN/cache/               sampled frames (clean and degraded views), soft labels, degraded test clips
    RUN/teachers/KEY/        model.pt (last.pt while training); on the CPU labeller-HASH.onnx
    RUN/students/NAME/distilled/model.pt (and undistilled/ for the exported student)
    RUN/predictions.npz      val/test logits of every model
    RUN/onnx/LABEL.onnx      every teacher and student as ONNX (the speed figures' source)
    RUN/evaluation.json      per model: calibration, test figures, size, frames/s; variants
    RUN/report.{json,md}, roc.png, reliability.png, robustness.png   (training.report.writer)
    RUN/model.onnx           the served student: calibrated, card with all figures

Files in the folder cache a stage's outputs so that `--resume` skips it; within one
process the stages hand their values to each other. Under DDP (`training.distributed`)
rank 0 alone writes the folder, and a run is resumed on as many processes as it started on.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from training import distributed
from training.config import Config, ConfigError, load_config

CONFIG_FILE = "config.yaml"
PREDICTIONS = "predictions.npz"
EVALUATION = "evaluation.json"
MODEL_FILE = "model.onnx"


class RunError(ValueError):
    """A run folder that cannot be started or resumed as asked."""


@dataclass(frozen=True)
class Run:
    """What every stage shares: the config, the folder and the device."""

    config: Config
    dir: Path
    device: torch.device

    @property
    def cache_dir(self) -> Path:
        return Path(self.config.data.cache_dir or self.dir / "cache")


def pick_device(name: str = "auto") -> torch.device:
    """"auto": cuda when available, else cpu; otherwise the named device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def start_run(config: Config, run_dir: Path, resume: bool) -> Run:
    """Make (or reopen, with `resume`) the run folder; refuses to mix two configs, or to
    resume on another number of processes. Every rank checks the folder before any writes."""
    world = distributed.world()
    check_world(config, world.size)
    saved = run_dir / CONFIG_FILE
    if saved.is_file():
        if not resume:
            raise RunError(f"{run_dir} already holds a run; pass --resume or another --out")
        before = yaml.safe_load(saved.read_text())["provenance"]
        if before["config_hash"] != config.digest():
            raise RunError(f"{run_dir} was started with another config (hash {before['config_hash'][:12]}); "
                           f"use another --out")
        size = before.get("world_size", 1)  # runs before DDP ran on one process
        if size != world.size:
            how = "without torchrun" if size == 1 else f"torchrun --nproc-per-node {size}"
            raise RunError(f"{run_dir} was started on {size} process(es), not {world.size}: resume it on "
                           f"as many ({how})")
    run_dir.mkdir(parents=True, exist_ok=True)
    distributed.barrier(f"every rank has checked {run_dir}")
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    return Run(config, run_dir, distributed.rank_device(pick_device(config.device)))


def check_world(config: Config, world_size: int) -> None:
    """Refuse batch sizes that `world_size` processes cannot share evenly: each rank takes
    batch_size / world_size items of every batch (the config's batch stays the batch)."""
    problems = [f"config.{name}.batch_size: {recipe.batch_size} is not a multiple of the {world_size} "
                f"processes (each takes an equal share of every batch)"
                for name, recipe in (("teachers", config.teachers), ("students", config.students))
                if recipe.batch_size % world_size]
    if problems:
        raise ConfigError(*problems)


def git_commit() -> str:
    """HEAD's commit (with "+dirty" when the tree has changes), or "unknown"."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty.strip() else "")


def write_config(run: Run, data_digest: str) -> dict[str, Any]:
    """RUN/config.yaml (rank 0's): the resolved config and its provenance (loadable as a
    config), how many processes trained on which device; returns the provenance."""
    provenance = {
        "git_commit": git_commit(), "data_hash": data_digest, "config_hash": run.config.digest(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "world_size": distributed.world().size, "device": run.device.type,
    }
    if distributed.is_main():
        body = run.config.to_dict() | {"provenance": provenance}
        (run.dir / CONFIG_FILE).write_text(yaml.safe_dump(body, sort_keys=False))
    return provenance


def load_run_config(run_dir: Path) -> tuple[Config, dict[str, Any]]:
    """A run's config and its provenance."""
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise RunError(f"{run_dir} is not a run folder (no {CONFIG_FILE})")
    return load_config(path), yaml.safe_load(path.read_text())["provenance"]
