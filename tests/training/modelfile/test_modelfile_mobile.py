"""The mobile format: the `.ort` file loads in ONNX Runtime, carries the card, and answers
what the ONNX model answers; its operator config lists what a reduced build needs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from app.contract.predictor import Predictor
from tests.training.modelfile.conftest import assert_answers_like
from training.modelfile.mobile import export_ort

MODELS = Path(__file__).parents[3] / "models"


@pytest.mark.parametrize("name", ["distilscreen-student", "distilscreen-faces-smoke"])
def test_the_ort_file_answers_what_the_onnx_model_answers(name: str, tmp_path: Path) -> None:
    model = shutil.copy(MODELS / f"{name}.onnx", tmp_path / f"{name}.onnx")
    ort_file, config = export_ort(Path(model))
    onnx_model, mobile = (Predictor.load(p, ["CPUExecutionProvider"]) for p in (Path(model), ort_file))
    assert mobile.card == onnx_model.card  # the card travels in the metadata
    spec = onnx_model.card.input
    frames = np.random.default_rng(0).integers(0, 256, (6, spec.height, spec.width, 3), dtype=np.uint8)
    np.testing.assert_allclose(mobile.logits(frames), onnx_model.logits(frames), atol=1e-5)
    ops = config.read_text()
    assert ort_file.name in ops and "/tmp" not in ops
    assert "ai.onnx;" in ops and "Conv" in ops


def test_the_shipped_student_ships_its_mobile_files() -> None:
    """models/ holds the .ort made from the shipped ONNX file (same card, same answers)."""
    shipped = Predictor.load(MODELS / "distilscreen-student.ort", ["CPUExecutionProvider"])
    onnx_model = Predictor.load(MODELS / "distilscreen-student.onnx", ["CPUExecutionProvider"])
    assert shipped.card == onnx_model.card
    frames = np.random.default_rng(1).integers(0, 256, (4, 160, 160, 3), dtype=np.uint8)
    np.testing.assert_allclose(shipped.predict(frames), onnx_model.predict(frames), atol=1e-6)
    assert (MODELS / "distilscreen-student.required_operators.config").is_file()


def test_the_ort_file_keeps_the_attention_output(exported_student, tmp_path: Path) -> None:
    model = Path(shutil.copy(exported_student.path, tmp_path / "student.onnx"))
    ort_file, _ = export_ort(model)
    onnx_model, mobile = (Predictor.load(p, ["CPUExecutionProvider"]) for p in (model, ort_file))
    assert mobile.card.output.attention == "attention"
    frames = np.random.default_rng(2).integers(0, 256, (4, 160, 160, 3), dtype=np.uint8)
    assert_answers_like(mobile, onnx_model, frames, 1e-5)
