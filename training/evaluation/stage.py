"""The evaluation stage: calibrate every model on its validation logits, score it on the
test frames, export and time every net (`training.evaluation.onnxfiles`), and check the served
student's variants and robustness (`training.evaluation.served`); cached in RUN/evaluation.json."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from training.data.stage import SplitFrames
from training.entries import ENSEMBLE, ModelEntry
from training.evaluation.onnxfiles import NetSource, export_nets
from training.evaluation.predictions import Predictions
from training.evaluation.served import served_robustness, served_variants
from training.run import EVALUATION, Run
from training.scoring.calibrate import calibrate, p_synthetic
from training.scoring.metrics import evaluate
from training.students.plan import exported_student
from training.students.stage import Student
from training.teachers.members import Teacher


@dataclass(frozen=True)
class Evaluation:
    """Per model label: calibration, test figures, ONNX file, size and frames/s; the
    served student, its variant decision and the robustness tables."""

    models: Mapping[str, Mapping[str, Any]]
    student: ModelEntry
    variants: Mapping[str, Any] | None
    robustness: Mapping[str, Any] | None

    def figures(self, entry: ModelEntry) -> Mapping[str, Any]:
        """The figures of one model."""
        return self.models[entry.label]

    def entries(self) -> list[ModelEntry]:
        """Every model evaluated, in order."""
        return [ModelEntry.from_label(label) for label in self.models]

    def to_json(self) -> dict[str, Any]:
        """The evaluation.json content."""
        return {"models": self.models, "student": self.student.label, "variants": self.variants,
                "robustness": self.robustness}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Evaluation:
        """Read back what `to_json` gave."""
        return cls(data["models"], ModelEntry.from_label(data["student"]), data["variants"],
                   data["robustness"])


def stage_evaluate(run: Run, frames: SplitFrames, teachers: Sequence[Teacher],
                   students: Sequence[Student], predictions: Predictions) -> Evaluation:
    """Every model calibrated, scored, exported and timed; the served student checked
    (from evaluation.json when there)."""
    path = run.dir / EVALUATION
    if path.is_file():
        return Evaluation.from_json(json.loads(path.read_text()))
    nets = [NetSource(t.entry, t.net, t.spec.size, t.onnx) for t in teachers]
    nets += [NetSource(s.entry, s.net, s.size) for s in students]
    fits = {e: calibrate(predictions.logits("val", e), predictions.labels("val"))
            for e in [*(n.entry for n in nets), ENSEMBLE]}
    models = export_nets(run, frames.test, nets, fits)
    for entry, fit in fits.items():
        models[entry]["calibration"] = fit.as_dict()
        probs = p_synthetic(predictions.logits("test", entry), fit.temperature)
        models[entry]["test"] = evaluate(predictions.labels("test"), probs, threshold=fit.threshold,
                                         groups=predictions.videos("test")).as_dict()
    student = exported_student(run.config)
    robustness = (served_robustness(run, frames, teachers, student, models)
                  if run.config.evaluation.robustness else None)
    evaluation = Evaluation({e.label: m for e, m in models.items()}, student,
                            served_variants(run, frames, models[student]), robustness)
    path.write_text(json.dumps(evaluation.to_json(), indent=2) + "\n")
    return evaluation
