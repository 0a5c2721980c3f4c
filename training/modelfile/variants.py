"""FP16 and INT8 variants of an exported model, kept only when they pay.

`select_variants` builds FP16 (onnxruntime's float16 converter, uint8 input kept) and
INT8 (static QDQ, per-channel weights, calibrated on training frames) copies, and keeps a
copy only if it is faster than FP32 in ONNX Runtime, timed side by side (by at least
`MIN_SPEEDUP`, since a shared machine's timings wobble by a few per cent), and loses at
most `MAX_AUC_DROP` AUC on the test frames.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process
from onnxruntime.transformers.float16 import convert_float_to_float16
from onnxruntime.transformers.onnx_model import OnnxModel

from app.contract.predictor import Predictor
from training.modelfile.cardfile import attach_card, read_card
from training.modelfile.exporter import checked_frames, chunks
from training.modelfile.speed import compare_speed, load_engine
from training.scoring.metrics import frame_auc

MAX_AUC_DROP = 0.002
MIN_SPEEDUP = 1.05  # "faster" = at least 5% more frames/s: less is run-to-run noise here
VARIANTS = ("fp16", "int8")

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
    inputs = engine.preprocess(checked_frames(frames))
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


def _predict(engine: Predictor, frames: np.ndarray) -> np.ndarray:
    """p_synthetic of many frames, a chunk at a time (bounded memory)."""
    return np.concatenate([engine.predict(chunk) for chunk in chunks(frames)])


