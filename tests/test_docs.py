"""The README says what the code does: settings, error codes, quick start."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from app import errors
from app.config import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_every_setting_is_documented_and_every_documented_one_exists() -> None:
    fields = {f"DISTILSCREEN_{name.upper()}" for name in Settings.model_fields}
    documented = set(re.findall(r"DISTILSCREEN_[A-Z_]+", README))
    assert fields == documented


def test_every_error_code_is_documented() -> None:
    codes = {
        cls.code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.ScreenError) and cls is not errors.ScreenError
    }
    table = set(re.findall(r"^\| \d{3}(?: / \d{3})? \| `(\w+)`", README, flags=re.M))
    assert codes <= table, codes - table


def test_quick_start_commands_are_the_makefile_and_ci_targets() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^serve:", makefile, flags=re.M) and re.search(r"^test:", makefile, flags=re.M)
    assert "make serve" in README and "make test" in README
    assert (ROOT / ".ci" / "run").read_text().strip().endswith("make test")


def test_shipped_model_figures_in_readme_are_its_report() -> None:
    """The README's table of the shipped student quotes `models/*.report.json`, not an older run."""
    report = json.loads((ROOT / "models" / "distilscreen-student.report.json").read_text())
    config = yaml.safe_load((ROOT / "models" / "distilscreen-student.config.yaml").read_text())
    section = README[README.index("### The shipped student") : README.index("### On a GPU")]
    assert f"(version {config['export']['version']})" in section
    assert f"commit {config['provenance']['git_commit'][:7]}" in section
    for row in report["rows"]:
        auc = rf"\| (\*\*)?{row['auc']:.3f}(\*\*)? \| {row['video_auc']:.3f} \|"
        assert re.search(auc, section), row["name"]
        assert f"| {row['frames_per_s']:.0f} |" in section, row["name"]
    summary = report["summary"]
    low, high = summary["retention_interval"]
    assert f"retention {summary['retention']:.3f} (95% interval {low:.3f}-{high:.3f})" in section
    assert f"{summary['speedup']:.1f}x" in section
    assert f"T = {report['calibration']['temperature']:.2f}" in section
