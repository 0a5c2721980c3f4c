"""Export a net to ONNX with its model card, checked against torch.

`export_student` writes a model the service accepts: torch's dynamo exporter (opset 20,
weights inside the file), a dynamic batch axis, input `frames`: uint8 RGB (N, H, W, 3)
as decoded, the cast, scaling and normalisation inside the graph (`PixelInput`; the card
says NHWC uint8 and the service passes the frames through untouched), output `logits`
and, for every `BinaryClassifier`, `attention` (where the model looks: the heatmap of its
last feature map, `training.modelfile.heatmap`, declared in the card's `output.extra`),
`onnx.checker` clean, the card attached, and a parity check of both outputs through the
service's own predictor on real frames. Teachers are exported the same way (their card
makes the speed benchmark run them through the same input pipeline); a teacher's
labelling file carries a `pixel_card` too (logits only: labelling never fetches the map),
so it runs through the same predictor.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from app.contract.card import ATTENTION, Calibration, Crop, FrameCrop, InputSpec, ModelCard, OutputSpec
from app.contract.predictor import Predictor
from training.modelfile.cardfile import attach_card
from training.modelfile.heatmap import WithAttention
from training.modelfile.speed import load_engine
from training.nets.base import BinaryClassifier, PixelInput
from training.scoring.calibrate import p_synthetic

OPSET = 20
INPUT_NAME = "frames"
OUTPUT_NAME = "logits"
PARITY_TOLERANCE = 1e-4
CHUNK = 64  # frames per forward pass when checking parity or scoring variants


class ExportError(ValueError):
    """An exported model that does not match its torch source (no file is left behind)."""


def export_student(
    model: nn.Module,
    path: str | Path,
    *,
    name: str,
    version: str,
    frames: np.ndarray,
    calibration: Calibration | None = None,
    crop: Crop | None = None,
    provenance: Mapping[str, Any] | None = None,
    config_hash: str = "",
    data_hash: str = "",
    tolerance: float = PARITY_TOLERANCE,
    graph: Path | None = None,
) -> ModelCard:
    """Export `model` to `path` with its card; the input size is that of `frames`, and
    `crop` what the service cuts from each frame (default the whole frame; a face crop's
    size must be the input's).

    `graph`: an ONNX file `export_onnx` already made of `model` (a teacher's labelling
    file), used instead of exporting again (the exporter takes 5-20 s a net on 2 cores).
    `frames` are real uint8 RGB frames (N, H, W, 3) at the model's input size: the
    parity check runs them through torch and through the service's engine and raises
    `ExportError` (leaving no file) if any p_synthetic, or any value of the attention map
    when the graph has one (the card then declares it), differs by more than `tolerance`.
    """
    path = Path(path)
    _, height, width, _ = checked_frames(frames).shape
    graph_proto = onnx.load(graph) if graph else export_onnx(model, height, width)
    card = pixel_card(name, version, height, width, crop=crop, calibration=calibration,
                      provenance=provenance, config_hash=config_hash, data_hash=data_hash,
                      outputs=[o.name for o in graph_proto.graph.output])
    proto = attach_card(graph_proto, card)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _staged(path) as staged:
        onnx.save(proto, staged)
        engine = load_engine(staged, threads=1)
        gap = _parity_gap(model, engine, frames)
        if not gap <= tolerance:
            raise ExportError(f"{path}: max |p_onnx - p_torch| = {gap:.3g} > {tolerance:g}")
        if card.output.attention is not None:
            gap = _attention_gap(model, engine, frames)
            if not gap <= tolerance:
                raise ExportError(
                    f"{path}: max |attention_onnx - attention_torch| = {gap:.3g} > {tolerance:g}")
    return card


def pixel_card(
    name: str,
    version: str,
    height: int,
    width: int,
    *,
    crop: Crop | None = None,
    calibration: Calibration | None = None,
    provenance: Mapping[str, Any] | None = None,
    config_hash: str = "",
    data_hash: str = "",
    outputs: Sequence[str] = (OUTPUT_NAME,),
) -> ModelCard:
    """The card of a graph `export_onnx` made: uint8 NHWC `frames` at height x width in,
    `logits` out, and `attention` declared when `outputs` (the graph's) has it (default:
    the whole frame, uncalibrated)."""
    return ModelCard(
        name=name,
        version=version,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        config_hash=config_hash,
        data_hash=data_hash,
        input=InputSpec(
            name=INPUT_NAME, layout="NHWC", dtype="uint8", height=height, width=width,
            scale=1, mean=(0, 0, 0), std=(1, 1, 1),
        ),
        output=OutputSpec(logits=OUTPUT_NAME, extra={ATTENTION: ATTENTION} if ATTENTION in outputs else {}),
        crop=crop or FrameCrop(),
        calibration=calibration or Calibration(),
        provenance=dict(provenance or {}),
    )


def export_onnx(model: nn.Module, height: int, width: int, attention: bool | None = None) -> onnx.ModelProto:
    """`model` (float RGB in [0, 1], NCHW) as a checked ONNX graph: input `frames` uint8
    (batch, height, width, 3), output `logits` (batch, 2) and, with `attention` (default:
    whenever `model` is a `BinaryClassifier`, which alone exposes its feature map), the
    heatmap `attention` (batch, h, w); opset 20, weights inside."""
    attention = isinstance(model, BinaryClassifier) if attention is None else attention
    if attention and not isinstance(model, BinaryClassifier):
        raise ValueError(
            f"an attention output needs a BinaryClassifier's feature map, not a {type(model).__name__}")
    was_training = model.training
    model.eval()
    try:
        pixels = model.for_pixels() if isinstance(model, BinaryClassifier) else PixelInput(model)
        exported = (WithAttention(pixels) if attention else pixels).eval()
        example = torch.randint(0, 256, (2, height, width, 3), dtype=torch.uint8, device=_device(model))
        program = torch.onnx.export(
            exported,
            (example,),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME, ATTENTION] if attention else [OUTPUT_NAME],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            opset_version=OPSET,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    finally:
        model.train(was_training)
    proto = program.model_proto
    onnx.checker.check_model(proto, full_check=True)
    return proto


def save_onnx(proto: onnx.ModelProto, path: Path) -> None:
    """Write `proto` to `path` atomically (an interrupted run leaves no half file)."""
    with _staged(path) as staged:
        onnx.save(proto, staged)


def torch_logits(model: nn.Module, frames: np.ndarray) -> np.ndarray:
    """Logits of uint8 frames (N, H, W, 3) scaled to [0, 1], in eval mode."""
    return _evaluated(model, frames, lambda x: PixelInput(model)(x))


def torch_attention(model: BinaryClassifier, frames: np.ndarray) -> np.ndarray:
    """The heatmaps (N, h, w) of uint8 frames (N, H, W, 3), in eval mode."""
    return _evaluated(model, frames, lambda x: WithAttention(PixelInput(model))(x)[1])


def _evaluated(model: nn.Module, frames: np.ndarray,
               forward: Callable[[torch.Tensor], torch.Tensor]) -> np.ndarray:
    """`forward` of the frames as a tensor on the model's device, in eval mode, without
    gradients, as float64; the model's training mode is kept."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(frames)).to(_device(model))
            return forward(x).double().cpu().numpy()
    finally:
        model.train(was_training)


def _attention_gap(model: nn.Module, engine: Predictor, frames: np.ndarray) -> float:
    """max |attention_onnx - attention_torch| over `frames`."""
    if not isinstance(model, BinaryClassifier):
        raise ExportError(
            f"the graph has an attention output, but a {type(model).__name__} has no feature map")
    return max(
        float(np.max(np.abs(engine.predict_with_attention(chunk)[1] - torch_attention(model, chunk))))
        for chunk in chunks(frames)
    )


def _parity_gap(model: nn.Module, engine: Predictor, frames: np.ndarray) -> float:
    """max |p_onnx - p_torch| over `frames`, at the card's temperature."""
    temperature = engine.card.calibration.temperature
    return max(
        float(np.max(np.abs(engine.predict(chunk) - p_synthetic(torch_logits(model, chunk), temperature))))
        for chunk in chunks(frames)
    )


def chunks(frames: np.ndarray, size: int = CHUNK) -> Iterator[np.ndarray]:
    return (frames[i:i + size] for i in range(0, len(frames), size))


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def checked_frames(frames: np.ndarray) -> np.ndarray:
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"frames must be uint8 (N, H, W, 3) with N >= 1, got {frames.dtype} {frames.shape}")
    return frames


@contextlib.contextmanager
def _staged(path: Path) -> Iterator[Path]:
    """A temporary path beside `path`, renamed onto it on success and removed on failure."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)
