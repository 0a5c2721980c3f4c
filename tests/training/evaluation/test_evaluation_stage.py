"""training/evaluation/stage.py: the evaluation's value and its JSON (evaluation.json)."""

from __future__ import annotations

import json

from training.entries import ENSEMBLE, ModelEntry, Role
from training.evaluation.stage import Evaluation

TEACHER = ModelEntry(Role.TEACHER, "srm_resnet")
STUDENT = ModelEntry(Role.DISTILLED, "patchnet_s")


def test_the_evaluation_json_keeps_its_keys_and_round_trips() -> None:
    models = {e.label: {"params": 10} for e in (TEACHER, STUDENT, ENSEMBLE)}
    evaluation = Evaluation(models, STUDENT, {"chosen": "fp32", "variants": []}, None)
    data = json.loads(json.dumps(evaluation.to_json()))
    assert list(data) == ["models", "student", "variants", "robustness"]
    assert data["student"] == "student:patchnet_s"
    again = Evaluation.from_json(data)
    assert again == evaluation
    assert again.entries() == [TEACHER, STUDENT, ENSEMBLE] and again.figures(STUDENT) == {"params": 10}
