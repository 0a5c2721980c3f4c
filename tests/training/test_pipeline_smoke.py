"""The `smoke` preset end to end through the command line (as CI runs it): synth a tiny
benchmark, train three teachers and two students, calibrate, evaluate, export; then
the report is complete, the card valid, the service loads the model and scores a frame,
`evaluate` and `export` work on the run, and `--resume` retrains nothing."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
import yaml

from app.inference.engine import Engine
from training.data import load_dataset, sample_frames
from training.evaluation.robustness import DEFAULT_CONDITIONS
from training.modelfile.cardfile import read_card

TEACHERS = ("mobilenetv2_100", "efficientnet_lite0", "srm_resnet")


Cli = Callable[..., subprocess.CompletedProcess]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory,
              distill_preset: Callable[[str, Path], None]) -> Path:
    run = tmp_path_factory.mktemp("smoke") / "run"
    distill_preset("smoke", run)
    return run


def test_report_has_every_row(smoke_run: Path) -> None:
    run = smoke_run
    report = json.loads((run / "report.json").read_text())
    roles = {row["name"]: row["role"] for row in report["rows"]}
    assert roles == {
        **{f"teacher:{t}": "teacher" for t in TEACHERS},
        "ensemble": "ensemble",
        "undistilled:patchnet_s": "student",
        "student:patchnet_s": "distilled",
    }
    for row in report["rows"]:
        assert 0.0 <= row["auc"] <= 1.0 and 0.0 <= row["ece"] <= 1.0
        assert row["params"] > 0 and row["macs"] > 0 and row["frames_per_s"] > 0
    markdown = (run / "report.md").read_text()
    assert all(name in markdown for name in roles)
    assert (run / "roc.png").stat().st_size > 0 and (run / "reliability.png").stat().st_size > 0


def test_robustness_from_the_onnx_files_agrees_with_the_torch_figures_on_clean_clips(
    smoke_run: Path,
) -> None:
    run = smoke_run
    report = json.loads((run / "report.json").read_text())
    auc = {row["name"]: row["auc"] for row in report["rows"]}
    robustness = report["robustness"]
    assert set(robustness) == {"student:patchnet_s", "ensemble"}
    for label, table in robustness.items():
        assert list(table) == ["clean", *(c.name for c in DEFAULT_CONDITIONS)]
        # the teachers' and the student's ONNX files on the test clips == torch's test predictions
        assert table["clean"]["auc"] == pytest.approx(auc[label], abs=1e-3)


def test_config_saved_with_provenance(smoke_run: Path) -> None:
    saved = yaml.safe_load((smoke_run / "config.yaml").read_text())
    provenance = saved["provenance"]
    assert saved["name"] == "smoke"
    assert len(provenance["data_hash"]) == 64 and len(provenance["config_hash"]) == 64
    assert provenance["git_commit"]


def test_the_unlabelled_clips_are_generated_beside_the_benchmark(
        smoke_run: Path) -> None:
    assert len(load_dataset(smoke_run / "unlabelled")) == 8


def test_model_card_and_service_engine(smoke_run: Path) -> None:
    run = smoke_run
    model = run / "model.onnx"
    card = read_card(onnx.load(model), str(model))
    saved = yaml.safe_load((run / "config.yaml").read_text())["provenance"]
    assert card.name == "distilscreen-smoke"
    assert (card.config_hash, card.data_hash) == (saved["config_hash"], saved["data_hash"])
    assert [t["name"] for t in card.provenance["teachers"]] == list(TEACHERS)
    assert set(card.provenance["evaluation"]) >= {"ensemble", "student:patchnet_s"}
    assert card.calibration.temperature > 0
    engine = Engine.load(model, ["CPUExecutionProvider"])
    test = [s for s in load_dataset(run / "data") if s.split == "test"]
    frames = sample_frames(test[0].path, 2, (card.input.width, card.input.height))
    p = engine.predict(frames)
    assert p.shape == (2,) and np.all((p >= 0) & (p <= 1))
    # where the student looks ships with it, in both formats
    size = card.input.height // 32
    for shipped in (engine, Engine.load(run / "model.ort", ["CPUExecutionProvider"])):
        assert shipped.card.output.extra == {"attention": "attention"}
        looked, maps = shipped.predict_with_attention(frames)
        np.testing.assert_allclose(looked, p, atol=1e-5)
        assert maps.shape == (2, size, size) and np.allclose(maps.max(axis=(1, 2)), 1, atol=0.01)


def test_evaluate_and_export_commands(smoke_run: Path, tmp_path: Path, cli: Cli) -> None:
    run = smoke_run
    before = json.loads((run / "report.json").read_text())
    (run / "report.md").unlink()
    done = cli("evaluate", str(run))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| ensemble | ensemble |" in done.stdout
    assert json.loads((run / "report.json").read_text())["rows"] == before["rows"]
    target = tmp_path / "models" / "smoke.onnx"
    done = cli("export", str(run), "--to", str(target))
    assert done.returncode == 0, done.stderr[-2000:]
    assert target.read_bytes() == (run / "model.onnx").read_bytes()


def test_resume_of_a_finished_run_retrains_nothing(smoke_run: Path, cli: Cli) -> None:
    run = smoke_run
    checkpoints = sorted(run.glob("*/**/model.pt"))
    stamps = [p.stat().st_mtime_ns for p in checkpoints]
    students = sorted(str(p.parent.relative_to(run / "students")) for p in checkpoints
                      if p.is_relative_to(run / "students"))
    assert len(checkpoints) == 3 + 3  # the undistilled baseline: the exported student only
    assert students == ["patchnet_m/distilled", "patchnet_s/distilled", "patchnet_s/undistilled"]
    done = cli("distill", str(run / "config.yaml"), "--out", str(run), "--resume")
    assert done.returncode == 0, done.stderr[-3000:]
    assert [p.stat().st_mtime_ns for p in checkpoints] == stamps
    refused = cli("distill", "smoke", "--out", str(run))
    assert refused.returncode != 0 and "--resume" in refused.stderr
