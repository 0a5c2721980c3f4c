"""training/losses/spec.py: the loss config, typed and checked against the terms' builders."""

from typing import Any

import pytest
from pydantic import ValidationError

from training.losses import LossSpec, TermSpec
from training.losses.combined import HintTerm, KDTerm


def errors(spec: Any) -> list[tuple[tuple, str]]:
    with pytest.raises(ValidationError) as info:
        LossSpec.model_validate(spec)
    return [(e["loc"], e["msg"]) for e in info.value.errors()]


def test_entries_default_their_term_to_their_name_and_dump_as_read() -> None:
    raw = {"kd": {"weight": 0.9}, "ce": {"weight": 0.1},
           "at_deep": {"weight": 1.0, "term": "at", "pairs": [1]}}
    spec = LossSpec.model_validate(raw)
    assert spec.root["at_deep"] == TermSpec(term="at", weight=1.0, options={"pairs": [1]})
    assert spec.root["kd"].term == "kd"
    assert spec.model_dump(mode="json") == raw
    assert LossSpec.model_validate(spec.model_dump()) == spec
    assert spec.feature_terms() == ["at_deep"]


def test_option_values_are_validated_against_the_builders_signature() -> None:
    spec = LossSpec.model_validate({"at": {"weight": 2, "beta": 10, "pairs": [0, 1]}})
    assert spec.root["at"].options == {"beta": 10.0, "pairs": [0, 1]}
    assert isinstance(spec.root["at"].weight, float)
    assert errors({"at": {"weight": 1, "beta": "big"}}) == [
        (("at",), "beta: Input should be a valid number, unable to parse string as a number")]
    assert errors({"ce": {"weight": float("nan")}}) == [(("ce", "weight"), "Input should be a finite number")]


def test_unknown_terms_and_keys_name_the_entry_and_the_choices() -> None:
    spec = {"kd": {"weight": 1, "temprature": 2}, "kl": {"weight": 1}, "at": {"weight": 1, "bta": 1}}
    assert errors(spec) == [
        (("kd",), "unknown key(s) ['temprature']; choices: weight, term"),
        (("kl",), "unknown loss term 'kl'; choices: at, ce, fitnets, kd"),
        (("at",), "unknown key(s) ['bta']; choices: weight, term, beta, p, pairs"),
    ]
    assert errors({"x": {"weight": 1, "term": "fitnet"}}) == [
        (("x",), "unknown loss term 'fitnet'; did you mean 'fitnets'? choices: at, ce, fitnets, kd")]
    assert errors({}) == [((), "a mapping of at least one loss term {name: {weight: W, ...}}, got {}")]


def test_what_the_run_supplies_is_refused_as_an_option() -> None:
    assert errors({"kd": {"weight": 1, "temperature": 2.0}}) == [
        (("kd",), f"temperature=2.0 is refused: loss term 'kd' takes {KDTerm.from_run['temperature']}")]
    assert "softlabels.temperature" in KDTerm.from_run["temperature"]
    (message,) = [m for _, m in errors({"fitnets": {"weight": 1, "student_channels": 8}})]
    assert message.startswith("student_channels=8 is refused") and set(HintTerm.from_run) == {
        "student_channels", "teacher_channels"}


def test_build_gives_each_term_what_it_takes_from_the_run() -> None:
    spec = LossSpec.model_validate({"kd": {"weight": 0.9}, "ce": {"weight": 0.1}, "fitnets": {"weight": 1}})
    loss = spec.build(temperature=2.5, student_channels=8, teacher_channels=16)
    assert loss.terms["kd"].temperature == 2.5 and loss.weights == {"kd": 0.9, "ce": 0.1, "fitnets": 1.0}
    assert loss.terms["fitnets"].regressor.conv.weight.shape[:2] == (16, 8)
    with pytest.raises(ValueError, match=r"loss term 'fitnets' needs teacher_channels from the run"):
        spec.build(temperature=2.5, student_channels=8, teacher_channels=None)
