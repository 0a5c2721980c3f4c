"""The engine: preprocessing from the card, calibrated probabilities, providers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from app.contract.card import Calibration, InputSpec, ModelCard, OutputSpec
from app.inference.engine import Engine
from tests.baseline import build_baseline
from training.modelfile.cardfile import attach_card


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


def mean_colour_model(layout: str, dtype: str) -> onnx.ModelProto:
    """logits = [0, mean red - mean blue] of the input tensor, for an input laid out as the
    card says: what the engine feeds it decides the answer."""
    normalisation = {"uint8": {"scale": 1, "mean": (0, 0, 0), "std": (1, 1, 1)},
                     "float32": {"scale": 1 / 255, "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.5, 0.5)}}[dtype]
    spec = InputSpec(name="frames", layout=layout, dtype=dtype, height=8, width=8, **normalisation)
    spatial_axes = [2, 3] if layout == "NCHW" else [1, 2]
    nodes = [
        helper.make_node("Cast", ["frames"], ["x"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["x", "axes"], ["rgb"], keepdims=0),
        helper.make_node("MatMul", ["rgb", "w"], ["logits"]),
    ]
    weights = [numpy_helper.from_array(np.array(spatial_axes, np.int64), "axes"),
               numpy_helper.from_array(np.array([[0, 1], [0, 0], [0, -1]], np.float32), "w")]
    elem = {"uint8": TensorProto.UINT8, "float32": TensorProto.FLOAT}[dtype]
    graph = helper.make_graph(nodes, "mean_colour",
                              [helper.make_tensor_value_info("frames", elem, ["batch", *spec.shape])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])],
                              initializer=weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    card = ModelCard(name="m", version="1", created="2026-01-01T00:00:00+00:00", input=spec,
                     output=OutputSpec(logits="logits"))
    return attach_card(model, card)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_every_input_layout_and_dtype_gets_the_tensor_its_card_describes(
    tmp_path: Path, layout: str, dtype: str
) -> None:
    path = tmp_path / "m.onnx"
    onnx.save(mean_colour_model(layout, dtype), path)
    engine = Engine.load(path, ["CPUExecutionProvider"], intra_op_threads=1)
    frames = np.random.default_rng(2).integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    if dtype == "uint8":
        assert engine.preprocess(frames).dtype == np.uint8  # passed through as decoded
        red, blue = frames[..., 0].mean((1, 2)), frames[..., 2].mean((1, 2))
    else:
        red = (frames[..., 0].mean((1, 2)) / 255 - 0.5) / 0.25
        blue = (frames[..., 2].mean((1, 2)) / 255 - 0.5) / 0.5
    expected = 1 / (1 + np.exp(-(red - blue)))
    assert np.ptp(expected) > 0.01
    np.testing.assert_allclose(engine.predict(frames), expected, rtol=1e-5)


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
