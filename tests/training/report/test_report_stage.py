"""training/report/stage.py: the report's rows and sections from a run's predictions and
evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from training.entries import ENSEMBLE, ModelEntry, Role
from training.evaluation.predictions import Predictions
from training.evaluation.stage import Evaluation
from training.report.stage import report_inputs

LABELS = np.array([0, 1, 0, 1])
CALIBRATION = {"temperature": 2.0, "threshold": 0.5, "rule": "youden", "nll_before": 0.7,
               "nll_after": 0.6, "ece_before": 0.2, "ece_after": 0.1}
TEACHER = ModelEntry(Role.TEACHER, "srm_resnet")
STUDENT = ModelEntry(Role.DISTILLED, "patchnet_s")
OTHER = ModelEntry(Role.DISTILLED, "patchnet_m")


def _run(entries: list[ModelEntry]) -> tuple[Predictions, Evaluation]:
    logits = np.stack([np.zeros(4), np.array([-1.0, 1.0, -0.5, 2.0])], axis=1)
    arrays = {"test/labels": LABELS, "test/videos": np.arange(4)}
    arrays |= {f"test/{e.label}": logits for e in entries}
    models = {e.label: {"calibration": CALIBRATION, "params": 10, "macs": 20, "frames_per_s": 30.0}
              for e in entries}
    return Predictions(arrays), Evaluation(models, STUDENT, None, None)


@pytest.mark.parametrize("undistilled", [False, True])
def test_rows_are_the_teachers_the_ensemble_the_served_student_and_its_baseline(undistilled: bool) -> None:
    entries = [TEACHER, STUDENT, OTHER] + ([STUDENT.undistilled()] if undistilled else []) + [ENSEMBLE]
    inputs = report_inputs(*_run(entries))
    expected = [(TEACHER.label, Role.TEACHER), ("ensemble", Role.ENSEMBLE), (STUDENT.label, Role.DISTILLED)]
    if undistilled:
        expected.append(("undistilled:patchnet_s", Role.UNDISTILLED))
    assert [(r.name, r.role) for r in inputs.rows] == expected
    assert inputs.calibration is not None and inputs.calibration.temperature == 2.0
    assert inputs.uncalibrated is not None and inputs.rows[2].probs[3] < inputs.uncalibrated[3]
