"""Teachers: an ensemble member's folder name, its net (built from the registry, started
from a user's checkpoint if the config names one) and, once trained, the `Teacher`.

This module imports no config at run time: the config's checks use `member_keys`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from training.entries import ModelEntry, Role
from training.nets import NETS, BinaryClassifier

if TYPE_CHECKING:
    from training.config import TeachersConfig, TeacherSpec


@dataclass(frozen=True)
class Teacher:
    """A trained member: its spec, the net (eval mode, CPU), the hash of its weights and,
    for labelling on the CPU, the net as an ONNX file (uint8 NHWC frames in, logits out)."""

    key: str
    spec: TeacherSpec
    net: BinaryClassifier
    digest: str
    onnx: Path | None = None

    @property
    def entry(self) -> ModelEntry:
        """The member as a model of the run."""
        return ModelEntry(Role.TEACHER, self.key)


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
