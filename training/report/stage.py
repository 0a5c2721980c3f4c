"""The report of a run (`training.report.writer`) from its predictions and evaluation: the
teachers, the ensemble, the served student and its undistilled baseline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from training.entries import ENSEMBLE, Role
from training.evaluation.predictions import Predictions
from training.evaluation.stage import Evaluation
from training.modelfile.variants import Variant, VariantDecision
from training.report.writer import ReportInputs, ReportRow, write_report
from training.run import EVALUATION, PREDICTIONS, Run
from training.scoring.calibrate import CalibrationFit, p_synthetic


def report_inputs(predictions: Predictions, evaluation: Evaluation) -> ReportInputs:
    """The report's rows and sections."""
    student = evaluation.student
    entries = [e for e in evaluation.entries() if e.role is Role.TEACHER] + [ENSEMBLE, student]
    if student.undistilled() in evaluation.entries():
        entries.append(student.undistilled())
    rows = []
    for entry in entries:
        figures = evaluation.figures(entry)
        fit = figures["calibration"]
        rows.append(ReportRow(
            name=entry.label, role=entry.role,
            probs=p_synthetic(predictions.logits("test", entry), fit["temperature"]),
            threshold=fit["threshold"], params=figures["params"], macs=figures["macs"],
            frames_per_s=figures["frames_per_s"]))
    variants = evaluation.variants
    return ReportInputs(
        rows=rows, labels=predictions.labels("test"), groups=predictions.videos("test"),
        calibration=CalibrationFit(**evaluation.figures(student)["calibration"]),
        uncalibrated=p_synthetic(predictions.logits("test", student)),
        variants=None if variants is None else VariantDecision(
            [Variant(**v) for v in variants["variants"]], variants["chosen"]),
        robustness=evaluation.robustness,
    )


def stage_report(run: Run, predictions: Predictions, evaluation: Evaluation) -> dict[str, Any]:
    """RUN/report.*; returns the report."""
    return write_report(run.dir, report_inputs(predictions, evaluation))


def write_run_report(run_dir: Path, echo: bool = True) -> dict[str, Any]:
    """(Re)write RUN/report.* from a finished run's predictions.npz and evaluation.json."""
    evaluation = Evaluation.from_json(json.loads((run_dir / EVALUATION).read_text()))
    return write_report(run_dir, report_inputs(Predictions.load(run_dir / PREDICTIONS), evaluation),
                        echo=echo)
