"""The README and docs/ say what the code does: settings, error codes, quick start, and the
shipped model's figures as its report gives them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from app import errors
from app.config import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
TRAINING = (ROOT / "docs" / "training.md").read_text()
SETTING = re.compile(r"DISTILSCREEN_[A-Z0-9_]+")  # names may hold digits: DISTILSCREEN_C2PA


def section(text: str, heading: str) -> str:
    """`heading`'s section of a markdown text: up to the next heading of its level or above."""
    start = text.index(f"\n{heading}\n")
    level = len(heading) - len(heading.lstrip("#"))
    following = re.compile(rf"^#{{1,{level}}} ", flags=re.M)
    end = following.search(text, start + len(heading) + 2)
    return text[start : end.start() if end else len(text)]


def shipped_report() -> tuple[dict, dict]:
    report = json.loads((ROOT / "models" / "distilscreen-student.report.json").read_text())
    config = yaml.safe_load((ROOT / "models" / "distilscreen-student.config.yaml").read_text())
    return report, config


def test_every_setting_is_documented_and_every_documented_one_exists() -> None:
    fields = {f"DISTILSCREEN_{name.upper()}" for name in Settings.model_fields}
    documented = set(SETTING.findall(README))
    assert fields == documented
    for page in sorted((ROOT / "docs").glob("*.md")):
        named = set(SETTING.findall(page.read_text()))
        assert named <= fields, (page.name, named - fields)


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


def test_shipped_student_figures_in_docs_are_its_report() -> None:
    """docs/training.md's table of the shipped student quotes `models/*.report.json`, not an older run."""
    report, config = shipped_report()
    text = section(TRAINING, "## The shipped student")
    assert f"(version {config['export']['version']})" in text
    assert f"commit {config['provenance']['git_commit'][:7]}" in text
    for row in report["rows"]:
        auc = rf"\| (\*\*)?{row['auc']:.3f}(\*\*)? \| {row['video_auc']:.3f} \|"
        assert re.search(auc, text), row["name"]
        assert f"| {row['frames_per_s']:.0f} |" in text, row["name"]
    summary = report["summary"]
    low, high = summary["retention_interval"]
    assert f"retention {summary['retention']:.3f} (95% interval {low:.3f}-{high:.3f})" in text
    assert f"{summary['speedup']:.1f}x" in text
    assert f"T = {report['calibration']['temperature']:.2f}" in text


def test_current_figures_in_readme_are_the_shipped_report() -> None:
    """README's "Current figures" quotes the same report: student and ensemble AUC, retention,
    frames/s and speed-up, calibration, for the version that is shipped."""
    report, config = shipped_report()
    text = section(README, "## Current figures")
    rows = {row["name"]: row for row in report["rows"]}
    student = rows[f"student:{config['students']['export']}"]
    ensemble = rows["ensemble"]
    summary, calibration = report["summary"], report["calibration"]
    assert f" {config['export']['version']} student" in " ".join(text.split())
    assert f"| {student['auc']:.3f} ({ensemble['auc']:.3f}): retention {summary['retention']:.3f} |" in text
    speed = f"| {student['frames_per_s']:.0f} vs {ensemble['frames_per_s']:.0f}: {summary['speedup']:.1f}x |"
    assert speed in text
    assert f"| {calibration['test_ece_after']:.3f} (T = {calibration['temperature']:.2f});" in text
    robustness = report["robustness"]
    drops = [f"{_drop(robustness[student['name']], c):.3f} ({_drop(robustness['ensemble'], c):.3f})"
             for c in ("crf35", "scale0.5")]
    assert f"| {'; '.join(drops)} |" in text


def _drop(table: dict, condition: str) -> float:
    """A robustness table's frame AUC lost from clean under `condition`."""
    return table["clean"]["auc"] - table[condition]["auc"]


def test_docs_links_resolve() -> None:
    """Every relative link of README.md and docs/*.md names a file of the repository."""
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" not in target:
                assert (page.parent / target).is_file(), f"{page.name}: {target}"
