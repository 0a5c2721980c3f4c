"""Export a torch checkpoint of a registered architecture for serving.

`NETS.build(arch)` gets the checkpoint's state dict (a mismatch names the first missing,
unexpected and reshaped keys), then `export_student` writes it with its card (uint8 NHWC
input, normalisation inside the graph) and checks it against torch on real photos
(`training.export.attach.sample_frames`) at the input size.
"""

from __future__ import annotations

from pathlib import Path

from torch import Tensor, nn

from app.contract.card import Calibration, FaceCrop, FrameCrop, ModelCard
from training.export.attach import sample_frames
from training.modelfile.exporter import export_student
from training.nets import NETS
from training.registry import UnknownNameError
from training.teachers.members import load_state_dict


def export_checkpoint(
    checkpoint: str | Path,
    arch: str,
    size: int,
    to: str | Path,
    *,
    name: str | None = None,
    version: str = "1",
    crop: FrameCrop | FaceCrop | None = None,
    calibration: Calibration | None = None,
) -> ModelCard:
    """Write the `arch` net with `checkpoint`'s weights to `to`, taking size x size frames
    cut as `crop` says (None: the whole frame; a face crop's size must be `size`).

    Raises ValueError when the checkpoint does not fit `arch`, and
    `training.modelfile.exporter.ExportError` when ONNX and torch disagree."""
    checkpoint, to = Path(checkpoint), Path(to)
    try:
        net = NETS.build(arch)
    except UnknownNameError as exc:
        raise ValueError(str(exc)) from None
    load_weights(net, load_state_dict(checkpoint), f"{checkpoint} ({arch})")
    return export_student(
        net, to, name=name or checkpoint.stem, version=version, frames=sample_frames(size, size),
        calibration=calibration, crop=crop,
        provenance={"arch": arch, "checkpoint": checkpoint.name},
    )


def load_weights(net: nn.Module, state: dict[str, Tensor], source: str) -> None:
    """Load `state` into `net`, or raise ValueError naming the keys that do not fit."""
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"{source}: not a state dict (names -> tensors), got {type(state).__name__}")
    expected = net.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    reshaped = [f"{k} {tuple(state[k].shape)} (the net's {tuple(v.shape)})"
                for k, v in expected.items() if k in state and state[k].shape != v.shape]
    problems = [f"{len(keys)} {what} (first: {keys[0]})"
                for what, keys in (("missing", missing), ("unexpected", unexpected),
                                   ("of another shape", reshaped)) if keys]
    if problems:
        raise ValueError(f"{source}: the state dict does not fit: {'; '.join(problems)}")
    net.load_state_dict(state)
