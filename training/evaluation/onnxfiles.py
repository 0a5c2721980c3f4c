"""Every teacher and student exported to RUN/onnx/ (checked against torch, calibrated
card) and timed side by side in ONNX Runtime; the ensemble's size and speed from its
members'."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.contract.card import Calibration
from training.data.faces import crop_at
from training.data.stage import BySize
from training.entries import ENSEMBLE, ModelEntry, Role
from training.modelfile.exporter import export_student
from training.modelfile.speed import compare_speed, ensemble_frames_per_second
from training.nets import BinaryClassifier, count_flops, count_params
from training.run import Run
from training.scoring.calibrate import CalibrationFit

PARITY_FRAMES = 512  # test frames each export's ONNX-vs-torch parity check runs on
Figures = dict[str, Any]


@dataclass(frozen=True)
class NetSource:
    """A net to export: which model it is, the net, its input size and, when one exists
    (a teacher's, made for labelling), its ONNX graph."""

    entry: ModelEntry
    net: BinaryClassifier
    size: int
    graph: Path | None = None


def export_nets(run: Run, test: BySize, nets: Sequence[NetSource],
                fits: Mapping[ModelEntry, CalibrationFit]) -> dict[ModelEntry, Figures]:
    """Per net: its ONNX file, input size, params, MACs and frames/s; then the ensemble's
    params, MACs and frames/s (its teachers run one after another)."""
    cfg, models = run.config, {}
    for source in nets:
        path = run.dir / "onnx" / f"{source.entry.label.replace(':', '-')}.onnx"
        fit = fits[source.entry]
        export_student(source.net, path, name=source.entry.label, version=cfg.export.version,
                       frames=test[source.size].frames[:PARITY_FRAMES],
                       calibration=Calibration(temperature=fit.temperature, threshold=fit.threshold),
                       crop=crop_at(cfg.data.crop, source.size), graph=source.graph)
        models[source.entry] = {"onnx": str(path), "size": source.size, "params": count_params(source.net),
                                "macs": count_flops(source.net, (3, source.size, source.size))}
    speeds = compare_speed([m["onnx"] for m in models.values()], batch_size=cfg.evaluation.speed_batch,
                           rounds=cfg.evaluation.speed_rounds, seconds=cfg.evaluation.speed_seconds)
    for figures, fps in zip(models.values(), speeds, strict=True):
        figures["frames_per_s"] = fps
    teachers = [m for e, m in models.items() if e.role is Role.TEACHER]
    models[ENSEMBLE] = {
        "params": sum(t["params"] for t in teachers), "macs": sum(t["macs"] for t in teachers),
        "frames_per_s": ensemble_frames_per_second([t["frames_per_s"] for t in teachers]),
    }
    return models
