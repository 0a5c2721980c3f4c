"""The teachers stage: fine-tune every ensemble member on hard labels and keep it on disk.

Each member lives in `RUN/teachers/<key>/` (`model.pt` when done, `last.pt` while it
trains, so an interrupted run resumes mid-teacher; on the CPU also `labeller-<hash>.onnx`
with a card, which labels frames in ONNX Runtime through the contract's predictor; rank 0
writes them all under DDP). A member's identity for the soft-label cache is the hash of its
final weights.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from training.config import Recipe, TeachersConfig
from training.data.frameset import FrameDataset
from training.data.stage import SplitFrames, Views
from training.distributed import main_first
from training.loop import fit, hard_labels
from training.modelfile.cardfile import attach_card
from training.modelfile.exporter import export_onnx, pixel_card, save_onnx
from training.nets import BinaryClassifier
from training.run import Run
from training.teachers.members import Teacher, build_teacher, member_keys


def stage_teachers(run: Run, frames: SplitFrames) -> tuple[Teacher, ...]:
    """Every member trained (or loaded) on the `train` frames."""
    cfg = run.config
    return tuple(train_teachers(cfg.teachers, frames.train, run.dir, cfg.seed, run.device))


def train_teachers(config: TeachersConfig, frames: Views, run_dir: Path,
                   seed: int, device: torch.device) -> list[Teacher]:
    """Train (or load) every member, epoch e on view e; `frames[e][size]` is view e of the
    training split at that size."""
    teachers = []
    for i, (key, spec) in enumerate(zip(member_keys(config), config.members, strict=True)):
        recipe = Recipe(
            epochs=config.epochs if spec.epochs is None else spec.epochs,
            batch_size=config.batch_size,
            lr=config.lr if spec.lr is None else spec.lr,
            weight_decay=config.weight_decay,
        )
        torch.manual_seed(seed + i)
        data = FrameDataset([view[spec.size] for view in frames[:max(1, recipe.epochs)]], seed)
        out = run_dir / "teachers" / key
        net = fit(build_teacher(spec), hard_labels(), data, recipe, out, seed + i, device,
                  desc=f"teacher {key}")
        digest = hashlib.sha256((out / "model.pt").read_bytes()).hexdigest()[:16]
        labeller = None  # on CUDA torch is the fast path; on the CPU ONNX Runtime labels
        if device.type == "cpu":
            with main_first(f"teacher {key}'s labelling file"):
                labeller = labelling_onnx(net, key, spec.size, out / f"labeller-{digest}.onnx")
        teachers.append(Teacher(key, spec, net, digest, labeller))
    return teachers


def labelling_onnx(net: BinaryClassifier, key: str, size: int, path: Path) -> Path:
    """`net` as ONNX at `path` (exported once; uint8 NHWC frames in, logits out) with a plain
    card named `key` (whole frames at `size`, uncalibrated), so the predictor runs it."""
    if not path.is_file():
        save_onnx(attach_card(export_onnx(net, size, size), pixel_card(key, "0", size, size)), path)
    return path
