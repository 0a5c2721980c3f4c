"""Teachers: build each ensemble member from the registry, start it from a user's
checkpoint if the config names one, fine-tune it on hard labels, keep it on disk.

Each member lives in `RUN/teachers/<key>/` (`model.pt` when done, `last.pt` while it
trains, so an interrupted run resumes mid-teacher; on the CPU also `model-<hash>.onnx`,
which labels frames in ONNX Runtime). A member's identity for the soft-label cache is the
hash of its final weights.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch

from training.config import Recipe, TeachersConfig, TeacherSpec
from training.datasets import FrameDataset, FrameSet
from training.distill import fit, hard_labels
from training.export import export_onnx, save_onnx
from training.nets import BinaryClassifier
from training.registry import NETS


@dataclass
class Teacher:
    """A trained member: its spec, the net (eval mode, CPU), the hash of its weights and,
    for labelling on the CPU, the net as an ONNX file (uint8 NHWC frames in, logits out)."""

    key: str
    spec: TeacherSpec
    net: BinaryClassifier
    digest: str
    onnx: Path | None = None


def member_keys(config: TeachersConfig) -> list[str]:
    """Unique folder names: the registry name, suffixed `-2`, `-3` on repeats."""
    keys: list[str] = []
    for member in config.members:
        count = sum(1 for m in config.members[: len(keys)] if m.name == member.name)
        keys.append(member.name if count == 0 else f"{member.name}-{count + 1}")
    return keys


def build_teacher(spec: TeacherSpec) -> BinaryClassifier:
    """The registered net with the spec's kwargs, loaded from `spec.checkpoint` if set."""
    net = NETS.build(spec.name, **spec.kwargs)
    if spec.checkpoint:
        net.load_state_dict(load_state_dict(Path(spec.checkpoint)))
    return net


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a user checkpoint: a bare state dict, or one under "model" /
    "state_dict" (as training scripts commonly save)."""
    if not path.is_file():
        raise FileNotFoundError(f"teacher checkpoint {path} does not exist")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("model", "state_dict"):
        if isinstance(blob, dict) and isinstance(blob.get(key), dict):
            blob = blob[key]
    return blob


def train_teachers(config: TeachersConfig, frames: dict[int, FrameSet], run_dir: Path,
                   seed: int, device: torch.device) -> list[Teacher]:
    """Train (or load) every member; `frames[size]` is the training split at that size."""
    teachers = []
    for i, (key, spec) in enumerate(zip(member_keys(config), config.members, strict=True)):
        recipe = Recipe(
            epochs=config.epochs if spec.epochs is None else spec.epochs,
            batch_size=config.batch_size,
            lr=config.lr if spec.lr is None else spec.lr,
            weight_decay=config.weight_decay,
        )
        torch.manual_seed(seed + i)
        data = FrameDataset(frames[spec.size], seed, views=max(1, recipe.epochs))
        out = run_dir / "teachers" / key
        net = fit(build_teacher(spec), hard_labels(), data, recipe, out, seed + i, device,
                  desc=f"teacher {key}")
        digest = hashlib.sha256((out / "model.pt").read_bytes()).hexdigest()[:16]
        on_cpu = device.type == "cpu"  # labels in ONNX Runtime; on CUDA torch is the fast path
        labeller = labelling_onnx(net, spec.size, out / f"model-{digest}.onnx") if on_cpu else None
        teachers.append(Teacher(key, spec, net, digest, labeller))
    return teachers


def labelling_onnx(net: BinaryClassifier, size: int, path: Path) -> Path:
    """`net` as ONNX at `path` (exported once; uint8 NHWC frames in, logits out)."""
    if not path.is_file():
        save_onnx(export_onnx(net, size, size), path)
    return path
