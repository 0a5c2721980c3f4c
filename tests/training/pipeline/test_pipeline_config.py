"""Experiment configs: presets, `--set` overrides, strict keys, the saved round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from training.config import Config, ConfigError, from_dict, load_config


def test_presets_load_with_three_diverse_teachers_and_the_small_student_exported() -> None:
    students = {"smoke": ["patchnet_s", "patchnet_m"], "default": ["patchnet_s"]}  # default: < 1 h
    for preset, nets in students.items():
        config = load_config(preset)
        names = [m.name for m in config.teachers.members]
        assert names == ["mobilenetv2_100", "efficientnet_lite0", "srm_resnet"]
        assert [s.name for s in config.students.nets] == nets
        assert config.students.export == "patchnet_s"


def test_overrides_set_nested_fields_list_items_and_parse_yaml_values() -> None:
    config = load_config("smoke", ["students.epochs=3", "teachers.members.2.lr=0.01",
                                   "data.synth.fractions=[0.5, 0.3, 0.2]", "device=cpu"])
    assert config.students.epochs == 3
    assert config.teachers.members[2].lr == 0.01
    assert config.data.synth.fractions == (0.5, 0.3, 0.2)
    assert config.device == "cpu"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("students.epoch=3", "unknown key(s) ['epoch']; choices: epochs, batch_size"),
        ("students.epochs=three", "config.students.epochs: expected int, got 'three'"),
        ("teachers.members.7.lr=1", "'7' is not an index below 3"),
        ("students.epochs", "override must look like key.path=value"),
        ("data.synth.fractions=[1, 2]", "expected 3 items"),
    ],
)
def test_bad_overrides_name_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config("smoke", [override])
    assert message in str(error.value)


def test_unknown_preset_lists_the_presets() -> None:
    presets = r"neither a YAML file nor a preset \(default, faces-smoke, smoke\)"
    with pytest.raises(ConfigError, match=presets):
        load_config("tiny")


def test_digest_is_stable_and_follows_the_fields() -> None:
    config = load_config("smoke")
    assert config.digest() == load_config("smoke").digest()
    assert config.digest() != load_config("smoke", ["seed=1"]).digest()


def test_saved_config_round_trips_and_ignores_provenance(tmp_path: Path) -> None:
    config = load_config("default")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config.to_dict() | {"provenance": {"git_commit": "abc"}}))
    again = load_config(path)
    assert again == config and again.digest() == config.digest()


def test_floats_accept_ints_but_ints_refuse_floats() -> None:
    config = from_dict(Config, {"name": "x", "students": {"lr": 1}}, "config")
    assert config.students.lr == 1.0 and isinstance(config.students.lr, float)
    with pytest.raises(ConfigError, match="config.seed: expected int, got 1.5"):
        from_dict(Config, {"name": "x", "seed": 1.5}, "config")


FACE = "data.crop={kind: face, detector: blazeface_full_range, size: 64"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (FACE + ", margin: 0.5}", "config.data.crop.margin: Input should be greater than or equal to 1"),
        (FACE + ", combine: median}", "config.data.crop.combine: Input should be 'max' or 'mean'"),
        ("data.crop={kind: face, size: 64}", "config.data.crop.detector: Field required"),
        ("data.crop={kind: face, detector: nope, size: 64}",
         "config.data.crop.detector: Value error, unknown detector 'nope'"),
        ("data.crop={kind: faces}", "config.data.crop: Input tag 'faces' found using 'kind'"),
        (FACE + ", colour: 1}", "config.data.crop.colour: Extra inputs are not permitted"),
        ("data.crop={kind: face, detector: blazeface_full_range, size: 96}",
         "config.data.crop.size: 96 must equal the exported student's input size (patchnet_s: 64)"),
        ("data.synth.faces=1.5", "config.data.synth.faces: a share of the clips in [0, 1]"),
    ],
)
def test_bad_face_crops_name_the_field(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config("smoke", [override])
    assert message in str(error.value)


def test_the_crop_is_the_cards_and_round_trips(tmp_path: Path) -> None:
    from app.contract.card import FaceCrop, FrameCrop

    assert load_config("smoke").data.crop == FrameCrop()
    config = load_config("faces-smoke")
    assert config.data.crop == FaceCrop(kind="face", detector="blazeface_full_range", size=64)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()))
    assert load_config(path) == config and load_config(path).digest() == config.digest()
