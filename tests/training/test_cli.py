"""The commands' parsers: light to import, the documented arguments, clear errors."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from training import cli

ROOT = Path(__file__).resolve().parents[2]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    for add in (cli.add_distill_parser, cli.add_evaluate_parser, cli.add_export_parser):
        add(commands)
    return parser.parse_args(argv)


def test_importing_the_commands_does_not_import_torch() -> None:
    code = "import sys, training.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_distill_arguments() -> None:
    args = parse("distill", "smoke", "--set", "students.epochs=3", "--set", "seed=2",
                 "--out", "runs/x", "--resume")
    assert (args.config, args.overrides, args.out, args.resume) == (
        "smoke", ["students.epochs=3", "seed=2"], Path("runs/x"), True)
    assert args.func is cli.run_distill
    assert parse("distill", "default").out is None


def test_evaluate_and_export_arguments() -> None:
    assert parse("evaluate", "runs/x").func is cli.run_evaluate
    args = parse("export", "runs/x", "--to", "models/m.onnx")
    assert (args.run, args.to, args.func) == (Path("runs/x"), Path("models/m.onnx"), cli.run_export)


def test_errors_are_one_line_with_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["distill", "no-such-preset"]) == 2
    assert "neither a YAML file nor a preset" in capsys.readouterr().err
    assert cli.main(["export", str(tmp_path)]) == 2
    assert "is not a run folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("overrides", "lines"),
    [
        (["students.loss.kd.temprature=2"],
         ["config.students.loss.kd: unknown key(s) ['temprature']; choices: weight, term"]),
        (["students.loss.kd.temperature=2"],
         ["config.students.loss.kd: temperature=2 is refused: loss term 'kd' takes softlabels.temperature "
          "(one T for the soft targets and this term; set that)"]),
        (["students.nets.0.name=patchnet", "teachers.members.2.name=srm"],
         ["config.teachers.members[2].name: unknown net 'srm'; choices: efficientnet_lite0, mobilenetv2_100, "
          "mobilenetv3_small_050, mobilenetv3_small_100, patchnet_m, patchnet_s, srm_resnet",
          "config.students.nets[0].name: unknown net 'patchnet'; did you mean 'patchnet_s'? choices: "
          "efficientnet_lite0, mobilenetv2_100, mobilenetv3_small_050, mobilenetv3_small_100, patchnet_m, "
          "patchnet_s, srm_resnet"]),
    ],
)
def test_config_errors_stop_distill_before_any_work(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
        overrides: list[str], lines: list[str]) -> None:
    import training.pipeline

    started: list[object] = []
    monkeypatch.setattr(training.pipeline, "run_pipeline", lambda *args, **kwargs: started.append(args))
    out = tmp_path / "run"
    argv = ["distill", "smoke", "--out", str(out)] + [a for o in overrides for a in ("--set", o)]
    assert cli.main(argv) == 2
    assert capsys.readouterr().err.splitlines() == [f"error: {line}" for line in lines]
    assert not started and not out.exists()


def test_validation_errors_print_one_line_per_field() -> None:
    from pydantic import BaseModel, ValidationError

    class Point(BaseModel):
        x: int
        y: int

    with pytest.raises(ValidationError) as error:
        Point.model_validate({"x": "one"})
    assert cli.problems(error.value) == [
        "x: Input should be a valid integer, unable to parse string as an integer", "y: Field required"]


def test_distill_on_processes_that_cannot_share_the_batch_is_refused_before_any_work(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    assert cli.main(["distill", "smoke", "--nproc", "3", "--out", str(out)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: config.{name}.batch_size: 16 is not a multiple of the 3 processes (each takes an equal "
        f"share of every batch)" for name in ("teachers", "students")]
    assert not out.exists()
    with pytest.raises(SystemExit):
        parse("distill", "smoke", "--nproc", "0")
