"""The model card: validated at load, and a model without a valid one is refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from app.contract.card import CARD_KEY, CardError, parse_card
from app.inference.engine import Engine
from tests.baseline import build_baseline
from training.modelfile.cardfile import read_card


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


def face_card(**crop: object) -> dict:
    card = card_dict()
    card["crop"] = {"kind": "face", "detector": "blazeface_full_range", "size": 32} | crop
    return card


def test_a_face_crop_round_trips_and_a_version_1_card_is_a_frame_model() -> None:
    card = parse_card({CARD_KEY: json.dumps(face_card(margin=1.5, combine="mean"))}, "f.onnx")
    crop = card.crop
    assert (crop.kind, crop.margin, crop.combine, crop.max_faces) == ("face", 1.5, "mean", 8)
    old = card_dict()
    old["schema_version"] = 1
    del old["crop"]
    assert parse_card({CARD_KEY: json.dumps(old)}, "old.onnx").crop.kind == "frame"


@pytest.mark.parametrize(
    ("crop", "field"),
    [
        ({"detector": "yunet"}, r"crop\.face\.detector: Value error, unknown detector 'yunet'; choices"),
        ({"margin": 0.5}, r"crop\.face\.margin"),
        ({"size": 48}, r"<root>: Value error, crop\.size 48 must equal the input's height and width"),
        ({"min_face_px": 2}, r"crop\.face\.min_face_px"),
        ({"max_faces": 0}, r"crop\.face\.max_faces"),
        ({"combine": "median"}, r"crop\.face\.combine"),
        ({"kind": "body"}, r"crop: Input tag 'body'"),
    ],
)
def test_bad_crop_specs_are_refused_naming_the_field(crop: dict, field: str) -> None:
    with pytest.raises(CardError, match=rf"m\.onnx: invalid model card: {field}"):
        parse_card({CARD_KEY: json.dumps(face_card(**crop))}, "m.onnx")


def test_a_face_crop_needs_schema_version_2() -> None:
    card = face_card()
    card["schema_version"] = 1
    with pytest.raises(CardError, match="a face crop needs schema_version 2"):
        parse_card({CARD_KEY: json.dumps(card)}, "m.onnx")


def test_the_service_refuses_to_start_on_a_bad_crop_naming_file_and_field(tmp_path: Path) -> None:
    model = build_baseline(size=32)
    for prop in model.metadata_props:
        if prop.key == CARD_KEY:
            prop.value = json.dumps(face_card(max_faces=100))
    path = tmp_path / "faces.onnx"
    onnx.save(model, path)
    with pytest.raises(CardError, match=r"faces\.onnx: invalid model card: crop\.face\.max_faces"):
        Engine.load(path, ["CPUExecutionProvider"])


def test_extra_outputs_are_named_by_meaning_and_older_cards_still_parse() -> None:
    card = card_dict()
    assert card["output"]["extra"] == {} and read_card(build_baseline(size=32)).output.attention is None
    for extra, meant in (([], {}), (["attention"], {"attention": "attention"}),
                         ({"attention": "map"}, {"attention": "map"})):
        card["output"]["extra"] = extra  # a list: cards written before extras had meanings
        output = parse_card({CARD_KEY: json.dumps(card)}, "m.onnx").output
        assert output.extra == meant and output.attention == meant.get("attention")
    card["output"].pop("extra")
    assert parse_card({CARD_KEY: json.dumps(card)}, "m.onnx").output.extra == {}


@pytest.mark.parametrize(("extra", "message"), [
    ({"attention": "heat"}, r"output\.extra\.attention 'heat' is not an output \['logits'\]"),
    ({"attention": "logits"}, r"the attention output must be \(N, h, w\), the model's is \['batch', 2\]"),
])
def test_engine_refuses_extras_the_graph_does_not_have(tmp_path: Path, extra: dict, message: str) -> None:
    model = build_baseline(size=32)
    card = card_dict()
    card["output"]["extra"] = extra
    for prop in model.metadata_props:
        if prop.key == CARD_KEY:
            prop.value = json.dumps(card)
    onnx.save(model, tmp_path / "m.onnx")
    with pytest.raises(CardError, match=message):
        Engine.load(tmp_path / "m.onnx", ["CPUExecutionProvider"])


def test_an_attention_model_answers_maps_beside_the_same_probabilities(tmp_path: Path) -> None:
    onnx.save(build_baseline(size=32, attention=True), tmp_path / "a.onnx")
    onnx.save(build_baseline(size=32), tmp_path / "b.onnx")
    looking, plain = (Engine.load(tmp_path / name, ["CPUExecutionProvider"]) for name in ("a.onnx", "b.onnx"))
    frames = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    p, maps = looking.predict_with_attention(frames)
    np.testing.assert_array_equal(p, plain.predict(frames))
    assert maps.shape == (3, 2, 2) and np.all(maps.max(axis=(1, 2)) == 1)
    with pytest.raises(ValueError, match="no attention output"):
        plain.predict_with_attention(frames)
