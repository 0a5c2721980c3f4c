"""The engine: preprocessing from the card, calibrated probabilities, providers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from app.card import Calibration
from app.inference.engine import Engine
from training.baseline import build_baseline


def reference(path: Path, frames: np.ndarray, temperature: float) -> np.ndarray:
    """p_synthetic computed by hand from a plain ORT session."""
    x = (frames.astype(np.float64) / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits = session.run(None, {"frames": x.transpose(0, 3, 1, 2).astype(np.float32)})[0] / temperature
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True))[:, 1]


@pytest.mark.parametrize("temperature", [1.0, 2.5])
def test_predict_matches_a_hand_computed_reference(tmp_path: Path, temperature: float) -> None:
    path = tmp_path / "m.onnx"
    onnx.save(build_baseline(size=32, calibration=Calibration(temperature=temperature)), path)
    frames = np.random.default_rng(1).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    engine = Engine.load(path, ["CPUExecutionProvider"], intra_op_threads=1)
    got = engine.predict(frames)
    np.testing.assert_allclose(got, reference(path, frames, temperature), atol=1e-6)
    assert got.shape == (5,) and np.ptp(got) > 0


def test_providers_skip_unavailable_ones_and_report_what_runs(model_path: Path) -> None:
    engine = Engine.load(
        model_path, ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    )
    assert engine.providers[-1] == "CPUExecutionProvider"
    assert set(engine.providers) <= set(ort.get_available_providers())


def test_no_available_provider_is_an_error(model_path: Path) -> None:
    with pytest.raises(RuntimeError, match="none of the providers"):
        Engine.load(model_path, ["NoSuchExecutionProvider"])


@pytest.mark.parametrize("spinning", [False, True])
def test_intra_op_spinning_follows_the_setting(model_path: Path, spinning: bool) -> None:
    engine = Engine.load(model_path, ["CPUExecutionProvider"], spinning=spinning)
    options = engine.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == str(int(spinning))
