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


NETS_LISTED = ("efficientnet_lite0, mobilenetv2_100, mobilenetv3_small_050, mobilenetv3_small_100, "
               "patchnet_m, patchnet_s, srm_resnet")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("students.loss.kd.temprature=2", "config.students.loss.kd: unknown key(s) ['temprature']; "
                                          "choices: weight, term"),
        ("students.loss.kl={weight: 1}", "config.students.loss.kl: unknown loss term 'kl'; "
                                         "choices: at, ce, fitnets, kd"),
        ("students.loss.at={weight: 1, beta: big}",
         "config.students.loss.at: beta: Input should be a valid number"),
        ("students.loss.ce={}", "config.students.loss.ce.weight: Field required"),
        ("students.loss.at={weight: 1}",
         "config.students.loss.at: loss term 'at' reads feature maps and needs students.hint_teacher "
         "(choices: mobilenetv2_100, efficientnet_lite0, srm_resnet)"),
        ("teachers.members.0.name=resnet9", f"config.teachers.members[0].name: unknown net 'resnet9'; "
                                            f"did you mean 'srm_resnet'? choices: {NETS_LISTED}"),
        ("students.nets.1.name=patchnet_l", "config.students.nets[1].name: unknown net 'patchnet_l'; "
                                            "did you mean 'patchnet_s'? choices: "),
        ("teachers.members.2.kwargs={depht: 2}",
         "config.teachers.members[2].kwargs: unknown key(s) ['depht'] for net 'srm_resnet'; "
         "choices: num_classes, depth, drop_rate"),
        ("students.export=patchnet_l", "config.students.export: 'patchnet_l' is not a student; "
                                       "choices: patchnet_s, patchnet_m"),
        ("softlabels.temperature=0", "config.softlabels.temperature: must be > 0, got 0.0"),
    ],
)
def test_names_and_the_loss_are_resolved_when_the_config_loads(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config("smoke", [override])
    assert message in str(error.value)


def test_every_problem_is_reported_on_its_own_line() -> None:
    with pytest.raises(ConfigError) as error:
        load_config("smoke", ["students.loss.kd.temprature=2", "teachers.members.1.name=effnet",
                              "students.epochs=two"])
    assert [line.split(":")[0] for line in error.value.problems] == [
        "config.teachers.members[1].name", "config.students.epochs", "config.students.loss.kd"]
    assert str(error.value) == "\n".join(error.value.problems)


def test_the_kd_term_takes_the_soft_targets_temperature_and_refuses_its_own() -> None:
    from training.students.plan import plan_students

    with pytest.raises(ConfigError) as error:
        load_config("smoke", ["students.loss.kd.temperature=2"])
    assert error.value.problems == ("config.students.loss.kd: temperature=2 is refused: loss term 'kd' "
                                    "takes softlabels.temperature (one T for the soft targets and this term; "
                                    "set that)",)
    config = load_config("smoke", ["softlabels.temperature=1"])
    assert config.students.loss.model_dump() == {"kd": {"weight": 0.9}, "ce": {"weight": 0.1}}
    assert plan_students(config)[0].loss.terms["kd"].temperature == 1.0
    assert config.digest() != load_config("smoke").digest()  # the run (and card) hash follows T


def test_a_loss_with_feature_terms_round_trips(tmp_path: Path) -> None:
    config = load_config("smoke", ["students.hint_teacher=srm_resnet",
                                   "students.loss.at_deep={weight: 2, term: at, pairs: [0]}"])
    assert config.students.loss.root["at_deep"].options == {"pairs": [0]}
    assert config.to_dict()["students"]["loss"]["at_deep"] == {"weight": 2.0, "term": "at", "pairs": [0]}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()))
    assert load_config(path) == config and load_config(path).digest() == config.digest()
