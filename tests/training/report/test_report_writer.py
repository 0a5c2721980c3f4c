"""training/report/writer.py: the table, the ratios by hand, the sections and the saved files."""

import json
from pathlib import Path

import numpy as np
import pytest

from training.entries import Role
from training.modelfile.variants import Variant, VariantDecision
from training.report.writer import ReportInputs, ReportRow, build_report, render_markdown, write_report
from training.scoring.calibrate import CalibrationFit

LABELS = np.array([0, 0, 1, 1])
GROUPS = np.array(["a", "b", "c", "d"])
# AUCs by counting ordered (negative, positive) pairs: 0.75, 1.0, 1.0, 0.5, 0.75
ROWS = [
    ReportRow("resnet", Role.TEACHER, np.array([0.1, 0.4, 0.35, 0.8]), params=11_000_000, macs=1_800_000_000,
              frames_per_s=20.0),
    ReportRow("effnet", Role.TEACHER, np.array([0.2, 0.3, 0.6, 0.9]), params=4_000_000, frames_per_s=20.0),
    ReportRow("ensemble", Role.ENSEMBLE, np.array([0.1, 0.2, 0.8, 0.9]), frames_per_s=10.0),
    ReportRow("plain", Role.UNDISTILLED, np.array([0.1, 0.9, 0.2, 0.8]), frames_per_s=150.0),
    ReportRow("distilled", Role.DISTILLED, np.array([0.1, 0.4, 0.35, 0.8]), threshold=0.6, params=1_500_000,
              macs=60_000_000, frames_per_s=150.0),
]
FIT = CalibrationFit(temperature=1.7, threshold=0.6, rule="youden", nll_before=0.9, nll_after=0.5,
                     ece_before=0.2, ece_after=0.05)
VARIANTS = VariantDecision([Variant("fp32", "m.onnx", 100.0, 0.9, True, "reference"),
                            Variant("int8", "m.int8.onnx", 250.0, 0.899, True, "2.50x ...")], "int8")


def _inputs(**kwargs: object) -> ReportInputs:
    return ReportInputs(ROWS, LABELS, GROUPS, **kwargs)  # type: ignore[arg-type]


def test_rows_and_ratios_by_hand() -> None:
    report = build_report(_inputs())
    rows = {r["name"]: r for r in report["rows"]}
    assert [rows[n]["auc"] for n in rows] == pytest.approx([0.75, 1.0, 1.0, 0.5, 0.75])
    assert rows["distilled"]["accuracy"] == pytest.approx(0.75)  # at its own threshold 0.6
    assert rows["resnet"]["accuracy"] == pytest.approx(0.75)  # at 0.5
    assert rows["distilled"]["speedup"] == pytest.approx(15.0)
    assert rows["resnet"]["speedup"] == pytest.approx(2.0)
    assert rows["resnet"]["params"] == 11_000_000 and rows["effnet"]["macs"] is None
    summary = dict(report["summary"])
    low, high = summary.pop("retention_interval")
    assert summary == pytest.approx(
        {"retention": 0.75, "retention_undistilled": 0.5, "gain_kept": 0.5, "speedup": 15.0})
    assert 0.0 <= low <= 0.75 <= high <= 1.0  # the ensemble ranks every resample perfectly
    assert report["ece_bins"] == 15


def test_gain_kept_is_undefined_when_the_ensemble_is_no_better() -> None:
    rows = [r for r in ROWS if r.role is not Role.ENSEMBLE]
    rows.append(ReportRow("ensemble", Role.ENSEMBLE, np.array([0.1, 0.9, 0.2, 0.8])))
    summary = build_report(ReportInputs(rows, LABELS))["summary"]
    assert summary["gain_kept"] is None and summary["speedup"] is None
    assert summary["retention_interval"] is None  # no groups


def test_sections_for_calibration_variants_and_robustness() -> None:
    uncalibrated = np.array([0.01, 0.45, 0.2, 0.99])
    robustness = {"distilled": {"clean": {"auc": 0.9, "video_auc": 0.95},
                                "crf45": {"auc": 0.8, "video_auc": 0.85}},
                  "ensemble": {"clean": {"auc": 0.96, "video_auc": 0.97},
                               "crf45": {"auc": 0.64, "video_auc": 0.6}}}
    report = build_report(_inputs(calibration=FIT, uncalibrated=uncalibrated, variants=VARIANTS,
                                  robustness=robustness))
    assert report["calibration"]["temperature"] == 1.7
    assert {"test_ece_before", "test_ece_after"} <= set(report["calibration"])
    assert report["export_variants"]["chosen"] == "int8"
    assert report["robustness"] == robustness
    markdown = render_markdown(report)
    for text in ("| distilled | distilled | 0.7500 |", "15.0x", "T = 1.7000", "serving int8",
                 # retention 0.8 / 0.64; drops 0.9 - 0.8 and 0.96 - 0.64
                 "| crf45 | 0.8000 / 0.8500 | 0.6400 / 0.6000 | 1.2500 | 0.1000 | 0.3200 |",
                 "| clean | 0.9000 / 0.9500 | 0.9600 / 0.9700 | 0.9375 | 0.0000 | 0.0000 |",
                 "Gain kept: 0.500",
                 "bootstrap over test videos"):
        assert text in markdown


def test_write_report_saves_json_markdown_and_plots(tmp_path: Path, capsys) -> None:
    uncalibrated = np.array([0.01, 0.45, 0.2, 0.99])
    robustness = {name: {"clean": {"auc": 0.9, "video_auc": 0.9}, "crf28": {"auc": 0.8, "video_auc": 0.8},
                         "crf40": {"auc": 0.6, "video_auc": 0.6}, "scale0.5": {"auc": 0.7, "video_auc": 0.7}}
                  for name in ("distilled", "ensemble")}
    report = write_report(tmp_path / "out", _inputs(calibration=FIT, uncalibrated=uncalibrated,
                                                    robustness=robustness))
    out = tmp_path / "out"
    assert json.loads((out / "report.json").read_text()) == json.loads(json.dumps(report))
    assert (out / "report.md").read_text() == render_markdown(report)
    for png in ("roc.png", "reliability.png", "robustness.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| model | role | AUC |" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([ROWS[2], ReportRow("e2", Role.ENSEMBLE, ROWS[2].probs)], "at most one ensemble"),
        ([ROWS[0], ROWS[0]], "unique"),
    ],
)
def test_ambiguous_rows_are_refused(rows: list[ReportRow], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReportInputs(rows, LABELS)


def test_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="role must be one of"):
        ReportRow("x", "oracle", LABELS.astype(float))
