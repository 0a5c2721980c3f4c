"""Export a net to ONNX with its model card, checked against torch; FP16/INT8 variants.

`export_student` writes a model the service accepts: torch's dynamo exporter (opset 20,
weights inside the file), a dynamic batch axis, input `frames`: uint8 RGB (N, H, W, 3)
as decoded, the cast, scaling and normalisation inside the graph (`PixelInput`; the card
says NHWC uint8 and the service passes the frames through untouched), output `logits`,
`onnx.checker` clean, the card attached, and a parity check through the service's own
engine on real frames. Teachers are exported the same way (their card
makes the speed benchmark run them through the same input pipeline).

`select_variants` builds FP16 (onnxruntime's float16 converter, uint8 input kept) and
INT8 (static QDQ, per-channel weights, calibrated on training frames) copies, and keeps a
copy only if it is faster than FP32 in ONNX Runtime, timed side by side (by at least
`MIN_SPEEDUP`, since a shared machine's timings wobble by a few per cent), and loses at
most `MAX_AUC_DROP` AUC on the test frames.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnxruntime.quantization import CalibrationDataReader, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process
from onnxruntime.transformers.float16 import convert_float_to_float16
from onnxruntime.transformers.onnx_model import OnnxModel
from torch import nn

from app.contract.card import Calibration, Crop, FrameCrop, InputSpec, ModelCard, OutputSpec
from app.contract.predictor import Predictor
from training.calibrate import p_synthetic
from training.cardfile import attach_card, read_card
from training.metrics import frame_auc
from training.nets.base import BinaryClassifier, PixelInput
from training.speed import compare_speed, load_engine

OPSET = 20
INPUT_NAME = "frames"
OUTPUT_NAME = "logits"
PARITY_TOLERANCE = 1e-4
MAX_AUC_DROP = 0.002
MIN_SPEEDUP = 1.05  # "faster" = at least 5% more frames/s: less is run-to-run noise here
VARIANTS = ("fp16", "int8")
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
    `ExportError` (leaving no file) if any p_synthetic differs by more than `tolerance`.
    """
    path = Path(path)
    _, height, width, _ = _checked_frames(frames).shape
    card = ModelCard(
        name=name,
        version=version,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        config_hash=config_hash,
        data_hash=data_hash,
        input=InputSpec(
            name=INPUT_NAME, layout="NHWC", dtype="uint8", height=height, width=width,
            scale=1, mean=(0, 0, 0), std=(1, 1, 1),
        ),
        output=OutputSpec(logits=OUTPUT_NAME),
        crop=crop or FrameCrop(),
        calibration=calibration or Calibration(),
        provenance=dict(provenance or {}),
    )
    proto = attach_card(onnx.load(graph) if graph else export_onnx(model, height, width), card)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _staged(path) as staged:
        onnx.save(proto, staged)
        gap = _parity_gap(model, load_engine(staged, threads=1), frames)
        if not gap <= tolerance:
            raise ExportError(f"{path}: max |p_onnx - p_torch| = {gap:.3g} > {tolerance:g}")
    return card


def export_onnx(model: nn.Module, height: int, width: int) -> onnx.ModelProto:
    """`model` (float RGB in [0, 1], NCHW) as a checked ONNX graph: input `frames` uint8
    (batch, height, width, 3), output `logits` (batch, 2), opset 20, weights inside."""
    was_training = model.training
    model.eval()
    try:
        pixels = (model.for_pixels() if isinstance(model, BinaryClassifier) else PixelInput(model)).eval()
        example = torch.randint(0, 256, (2, height, width, 3), dtype=torch.uint8, device=_device(model))
        program = torch.onnx.export(
            pixels,
            (example,),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
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
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(frames)).to(_device(model))
            return PixelInput(model)(x).double().cpu().numpy()
    finally:
        model.train(was_training)


@dataclass(frozen=True)
class Variant:
    """One precision of an exported model and the figures that decided whether it is kept
    (the file at `path` is deleted when it is not)."""

    name: str
    path: str
    frames_per_s: float
    auc: float
    kept: bool
    reason: str


@dataclass(frozen=True)
class VariantDecision:
    """Every variant measured, and the one to serve (the fastest kept)."""

    variants: list[Variant]
    chosen: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def select_variants(
    fp32_path: str | Path,
    *,
    calibration_frames: np.ndarray,
    test_frames: np.ndarray,
    test_labels: np.ndarray,
    variants: Sequence[str] = VARIANTS,
    batch_size: int = 32,
    threads: int = 2,
    seconds: float = 1.0,
    max_auc_drop: float = MAX_AUC_DROP,
    min_speedup: float = MIN_SPEEDUP,
) -> VariantDecision:
    """Build `variants` next to `fp32_path` (`<stem>.<variant>.onnx`), time them against FP32
    side by side, score them on the test frames, and delete those not kept."""
    fp32_path = Path(fp32_path)
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise ValueError(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    paths = {"fp32": fp32_path}
    for name in variants:
        paths[name] = fp32_path.with_name(f"{fp32_path.stem}.{name}.onnx")
        build_variant(fp32_path, paths[name], name, calibration_frames)
    timed = compare_speed(list(paths.values()), batch_size=batch_size, threads=threads, seconds=seconds)
    fps = dict(zip(paths, timed, strict=True))
    auc = {n: frame_auc(test_labels, _predict(load_engine(p, threads), test_frames))
           for n, p in paths.items()}
    results = [Variant("fp32", str(fp32_path), fps["fp32"], auc["fp32"], True, "reference")]
    for name in variants:
        speedup, drop = fps[name] / fps["fp32"], auc["fp32"] - auc[name]
        kept = speedup >= min_speedup and drop <= max_auc_drop
        reason = (
            f"{speedup:.2f}x FP32 frames/s ({'at least' if speedup >= min_speedup else 'under'} "
            f"{min_speedup}x), AUC drop {drop:+.4f} "
            f"({'within' if drop <= max_auc_drop else 'over'} {max_auc_drop})"
        )
        results.append(Variant(name, str(paths[name]), fps[name], auc[name], kept, reason))
        if not kept:
            paths[name].unlink()
    chosen = max((v for v in results if v.kept), key=lambda v: v.frames_per_s).name
    return VariantDecision(results, chosen)


def build_variant(src: Path, dst: Path, variant: str, calibration_frames: np.ndarray) -> None:
    """Write the `variant` ("fp16" or "int8") of the carded FP32 model `src` to `dst`, card kept."""
    card = read_card(onnx.load(src), str(src))
    if variant == "fp16":
        model = convert_float_to_float16(onnx.load(src), keep_io_types=True)
        OnnxModel(model).topological_sort()  # the converter appends the input casts last
    elif variant == "int8":
        model = _quantize_int8(src, calibration_frames)
    else:
        raise ValueError(f"unknown variant {variant!r}; choose from {list(VARIANTS)}")
    onnx.checker.check_model(model)
    onnx.save(attach_card(model, card), dst)


def _quantize_int8(src: Path, frames: np.ndarray) -> onnx.ModelProto:
    """Static QDQ quantisation (per-channel weights, MinMax) calibrated on `frames`."""
    engine = load_engine(src, threads=1)
    inputs = engine.preprocess(_checked_frames(frames))
    with tempfile.TemporaryDirectory() as tmp:
        prepared, out = Path(tmp) / "prepared.onnx", Path(tmp) / "int8.onnx"
        quant_pre_process(str(src), str(prepared))
        quantize_static(str(prepared), str(out), _Batches(engine.card.input.name, inputs), per_channel=True)
        return onnx.load(out)


class _Batches(CalibrationDataReader):
    """Calibration inputs in batches of `size` frames."""

    def __init__(self, name: str, inputs: np.ndarray, size: int = 16) -> None:
        self._items = iter({name: inputs[i:i + size]} for i in range(0, len(inputs), size))

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)


def _parity_gap(model: nn.Module, engine: Predictor, frames: np.ndarray) -> float:
    """max |p_onnx - p_torch| over `frames`, at the card's temperature."""
    temperature = engine.card.calibration.temperature
    return max(
        float(np.max(np.abs(engine.predict(chunk) - p_synthetic(torch_logits(model, chunk), temperature))))
        for chunk in _chunks(frames)
    )


def _chunks(frames: np.ndarray, size: int = CHUNK) -> Iterator[np.ndarray]:
    return (frames[i:i + size] for i in range(0, len(frames), size))


def _predict(engine: Predictor, frames: np.ndarray) -> np.ndarray:
    """p_synthetic of many frames, a chunk at a time (bounded memory)."""
    return np.concatenate([engine.predict(chunk) for chunk in _chunks(frames)])


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _checked_frames(frames: np.ndarray) -> np.ndarray:
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
