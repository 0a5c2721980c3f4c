"""The model card: validated at load, and a model without a valid one is refused."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from app.card import CARD_KEY, CardError, parse_card
from app.inference.engine import Engine
from training.baseline import build_baseline
from training.cardfile import read_card


def card_dict() -> dict:
    return json.loads(read_card(build_baseline(size=32)).to_json())


def test_round_trip_through_onnx_metadata() -> None:
    card = read_card(build_baseline(size=32, name="m", version="9"))
    assert (card.name, card.version, card.input.height, card.output.synthetic_index) == ("m", "9", 32, 1)


def test_missing_card_names_the_file() -> None:
    with pytest.raises(CardError, match=r"x\.onnx: no model card"):
        parse_card({}, "x.onnx")


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("input", "height"), 0, "input.height"),
        (("input", "std"), [1, 0, 1], "input"),
        (("input", "color"), "YUV", "input.color"),
        (("input", "dtype"), "uint8", "input"),  # uint8 with the baseline's ImageNet mean/std
        (("input", "layout"), "CHWN", "input.layout"),
        (("output", "classes"), ["real", "fake"], "output"),
        (("calibration", "temperature"), -1, "calibration.temperature"),
        (("calibration", "threshold"), 1.5, "calibration.threshold"),
        (("name",), "", "name"),
    ],
)
def test_invalid_field_is_named(path: tuple[str, ...], value: object, field: str) -> None:
    card = card_dict()
    node = card
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(CardError, match=rf"m\.onnx: invalid model card: {field}"):
        parse_card({CARD_KEY: json.dumps(card)}, "m.onnx")


def test_not_json() -> None:
    with pytest.raises(CardError, match="not valid JSON"):
        parse_card({CARD_KEY: "{"}, "m.onnx")


def test_engine_refuses_a_model_without_a_card(tmp_path: Path) -> None:
    model = build_baseline(size=32)
    del model.metadata_props[:]
    path = tmp_path / "bare.onnx"
    onnx.save(model, path)
    with pytest.raises(CardError, match=r"bare\.onnx: no model card"):
        Engine.load(path, ["CPUExecutionProvider"])


def test_engine_refuses_a_card_that_disagrees_with_the_graph(tmp_path: Path) -> None:
    model = build_baseline(size=32)
    card = card_dict()
    card["input"]["height"] = 48
    for prop in model.metadata_props:
        if prop.key == CARD_KEY:
            prop.value = json.dumps(card)
    path = tmp_path / "wrong.onnx"
    onnx.save(model, path)
    with pytest.raises(CardError, match="does not match the card"):
        Engine.load(path, ["CPUExecutionProvider"])


def test_engine_refuses_a_card_whose_dtype_disagrees_with_the_graph(tmp_path: Path) -> None:
    model = build_baseline(size=32)  # a float32 input
    card = card_dict()
    card["input"].update(dtype="uint8", layout="NHWC", scale=1, mean=[0, 0, 0], std=[1, 1, 1])
    for prop in model.metadata_props:
        if prop.key == CARD_KEY:
            prop.value = json.dumps(card)
    path = tmp_path / "float.onnx"
    onnx.save(model, path)
    with pytest.raises(CardError, match=r"input is tensor\(float\), the card says uint8"):
        Engine.load(path, ["CPUExecutionProvider"])


def test_engine_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CardError, match="not found"):
        Engine.load(tmp_path / "nope.onnx", ["CPUExecutionProvider"])
