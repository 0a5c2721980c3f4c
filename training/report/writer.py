"""The evaluation report: one table (teachers, ensemble, student without and with
distillation), the derived ratios, calibration, export variants and robustness; saved as
JSON and Markdown, with ROC curves and a reliability diagram as PNG (matplotlib's
object API: figures render with the Agg canvas, no pyplot state, no display needed).

Ratios: retention = student AUC / ensemble AUC, with a 95% interval from a bootstrap over
the test videos (`training.scoring.metrics.auc_ratio_interval`); gain kept = (distilled AUC - undistilled
AUC) / (ensemble AUC - undistilled AUC), None when the ensemble is not better than the
undistilled student; speed-up = frames/s / ensemble frames/s (ONNX Runtime, same runs).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from training.entries import ENSEMBLE, Role
from training.modelfile.variants import VariantDecision
from training.scoring.calibrate import CalibrationFit
from training.scoring.metrics import ECE_BINS, auc_ratio_interval, ece, evaluate, reliability_bins

RETENTION_CONFIDENCE = 0.95  # of the retention interval
COLUMNS = ("model", "role", "AUC", "video AUC", "accuracy", "log loss", "ECE",
           "params (M)", "MACs (M)", "frames/s", "speed-up")


@dataclass(frozen=True)
class ReportRow:
    """One model's p_synthetic on the shared test frames, and its size and speed."""

    name: str
    role: Role
    probs: np.ndarray = field(repr=False)
    threshold: float = 0.5
    params: int | None = None
    macs: int | None = None
    frames_per_s: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.role, Role):
            raise ValueError(f"{self.name}: role must be one of {[r.value for r in Role]} (a Role), "
                             f"got {self.role!r}")


@dataclass(frozen=True)
class ReportInputs:
    """Everything the report is made of. `labels` and `groups` (video of each frame) are
    the shared test frames'; `uncalibrated` is the distilled student's test p_synthetic
    before temperature scaling (its row holds them after); `robustness` maps model
    name -> `training.evaluation.robustness.robustness_table` output."""

    rows: Sequence[ReportRow]
    labels: np.ndarray
    groups: np.ndarray | None = None
    calibration: CalibrationFit | None = None
    uncalibrated: np.ndarray | None = None
    variants: VariantDecision | None = None
    robustness: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None
    bins: int = ECE_BINS

    def __post_init__(self) -> None:
        names = [r.name for r in self.rows]
        if len(set(names)) != len(names):
            raise ValueError(f"row names must be unique, got {names}")
        for role in (Role.ENSEMBLE, Role.UNDISTILLED, Role.DISTILLED):
            if sum(r.role is role for r in self.rows) > 1:
                raise ValueError(f"at most one {role} row, got {names}")

    def row(self, role: Role) -> ReportRow | None:
        """The row of a single-row role (ensemble, undistilled, distilled), if present."""
        return next((r for r in self.rows if r.role is role), None)


def build_report(inputs: ReportInputs) -> dict[str, Any]:
    """The report as JSON-ready data."""
    labels, bins = inputs.labels, inputs.bins
    ensemble, distilled = inputs.row(Role.ENSEMBLE), inputs.row(Role.DISTILLED)
    ensemble_fps = ensemble.frames_per_s if ensemble else None
    table = []
    for row in inputs.rows:
        metrics = evaluate(labels, row.probs, threshold=row.threshold, groups=inputs.groups, bins=bins)
        speedup = row.frames_per_s / ensemble_fps if row.frames_per_s and ensemble_fps else None
        table.append({"name": row.name, "role": row.role.value, **metrics.as_dict(),
                      "threshold": row.threshold, "params": row.params, "macs": row.macs,
                      "frames_per_s": row.frames_per_s, "speedup": speedup})
    auc = {row.role: r["auc"] for row, r in zip(inputs.rows, table, strict=True)
           if row.role is not Role.TEACHER}
    report: dict[str, Any] = {
        "ece_bins": bins,
        "rows": table,
        "summary": {
            "retention": _ratio(auc.get(Role.DISTILLED), auc.get(Role.ENSEMBLE)),
            "retention_interval": _retention_interval(inputs),
            "retention_undistilled": _ratio(auc.get(Role.UNDISTILLED), auc.get(Role.ENSEMBLE)),
            "gain_kept": _gain_kept(*(auc.get(r) for r in (Role.DISTILLED, Role.UNDISTILLED, Role.ENSEMBLE))),
            "speedup": next((r["speedup"] for r in table if r["role"] == Role.DISTILLED), None),
        },
        "calibration": inputs.calibration.as_dict() if inputs.calibration else None,
        "export_variants": inputs.variants.as_dict() if inputs.variants else None,
        "robustness": {k: {c: dict(m) for c, m in v.items()} for k, v in (inputs.robustness or {}).items()},
    }
    if report["calibration"] is not None and inputs.uncalibrated is not None and distilled is not None:
        report["calibration"]["test_ece_before"] = ece(labels, inputs.uncalibrated, bins)
        report["calibration"]["test_ece_after"] = ece(labels, distilled.probs, bins)
    return report


def render_markdown(report: Mapping[str, Any]) -> str:
    """The report as Markdown: the main table and ratios, then the optional sections."""
    lines = _main_table(report)
    if c := report["calibration"]:
        lines += _calibration(c)
    if v := report["export_variants"]:
        lines += _variants(v)
    if r := report["robustness"]:
        lines += _robustness(r)
    return "\n".join(lines) + "\n"


def _main_table(report: Mapping[str, Any]) -> list[str]:
    lines = [_md_row(COLUMNS), "|" + "---|" * len(COLUMNS)]
    for r in report["rows"]:
        lines.append(_md_row([
            r["name"], r["role"], _f(r["auc"], 4), _f(r["video_auc"], 4), _f(r["accuracy"], 4),
            _f(r["log_loss"], 4), _f(r["ece"], 4), _f(_mega(r["params"]), 2),
            _f(_mega(r["macs"]), 1), _f(r["frames_per_s"], 0), _f(r["speedup"], 1, "x"),
        ]))
    s = report["summary"]
    return lines + [
        "",
        f"Retention (distilled AUC / ensemble AUC): {_f(s['retention'], 4)}"
        f"{_interval(s['retention_interval'])}; "
        f"without distillation: {_f(s['retention_undistilled'], 4)}. "
        f"Gain kept: {_f(s['gain_kept'], 3)}. Speed-up vs ensemble: {_f(s['speedup'], 1, 'x')}. "
        f"ECE: top-label, {report['ece_bins']} equal-width bins.",
    ]


def _calibration(c: Mapping[str, Any]) -> list[str]:
    text = (f"T = {c['temperature']:.4f}, threshold = {c['threshold']:.4f} ({c['rule']}); "
            f"validation NLL {c['nll_before']:.4f} -> {c['nll_after']:.4f}, "
            f"ECE {c['ece_before']:.4f} -> {c['ece_after']:.4f}")
    if "test_ece_before" in c:
        text += f"; test ECE {c['test_ece_before']:.4f} -> {c['test_ece_after']:.4f}"
    return ["", "## Calibration (distilled student)", "", text]


def _variants(v: Mapping[str, Any]) -> list[str]:
    lines = ["", f"## Export variants (serving {v['chosen']})", "",
             _md_row(["variant", "frames/s", "AUC", "kept", "why"]), "|---|---|---|---|---|"]
    return lines + [
        _md_row([x["name"], _f(x["frames_per_s"], 0), _f(x["auc"], 4), "yes" if x["kept"] else "no",
                 x["reason"]])
        for x in v["variants"]
    ]


def _robustness(rob: Mapping[str, Mapping[str, Mapping[str, float]]]) -> list[str]:
    models = list(rob)
    student = next((m for m in models if m != ENSEMBLE.label), None)
    conditions = list(dict.fromkeys(c for m in models for c in rob[m]))
    lines = ["", "## Robustness (frame AUC / video AUC)", "",
             "Retention: the student's frame AUC / the ensemble's; drop: clean frame AUC - the "
             "condition's.", "",
             _md_row(["condition", *models, "retention", *(f"drop {m}" for m in models)]),
             "|" + "---|" * (2 * len(models) + 2)]
    for cond in conditions:
        figures = [rob[m].get(cond, {}) for m in models]
        retention = _ratio(_auc(rob, student, cond), _auc(rob, ENSEMBLE.label, cond))
        drops = [_drop(_auc(rob, m, "clean"), _auc(rob, m, cond)) for m in models]
        lines.append(_md_row([cond, *(f"{_f(f.get('auc'), 4)} / {_f(f.get('video_auc'), 4)}"
                                      for f in figures),
                              _f(retention, 4), *(_f(d, 4) for d in drops)]))
    return lines


def _auc(rob: Mapping[str, Mapping[str, Mapping[str, float]]], model: str | None, cond: str
         ) -> float | None:
    return rob.get(model or "", {}).get(cond, {}).get("auc")


def _drop(clean: float | None, degraded: float | None) -> float | None:
    return None if clean is None or degraded is None else clean - degraded


def plot_robustness(rob: Mapping[str, Mapping[str, Mapping[str, float]]], path: str | Path) -> None:
    """Frame AUC against the re-encode's CRF (the `crfNN` conditions) for every model, its
    clean AUC as a dashed line of the same colour."""
    fig = Figure(figsize=(5, 4))
    ax = fig.subplots()
    for model, table in rob.items():
        points = sorted((int(c[3:]), m["auc"]) for c, m in table.items()
                        if c.startswith("crf") and c[3:].isdigit())
        if not points:
            continue
        (line,) = ax.plot(*zip(*points, strict=True), marker="o", label=model)
        if "clean" in table:
            ax.axhline(table["clean"]["auc"], color=line.get_color(), ls="--", lw=1)
    ax.axhline(0.5, color="grey", ls=":", lw=1)
    ax.set(xlabel="H.264 CRF of the re-encode", ylabel="frame AUC", ylim=(0.45, 1.0),
           title="Robustness to recompression (dashed: clean)")
    ax.legend(loc="lower left", fontsize="small")
    _save(fig, path)


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def plot_roc(rows: Sequence[ReportRow], labels: np.ndarray, path: str | Path) -> None:
    """ROC curves of every row on one plot."""
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    for row in rows:
        fpr, tpr, _ = roc_curve(labels, row.probs)
        ax.plot(fpr, tpr, label=f"{row.name} ({row.role.value})", lw=2 if row.role is Role.DISTILLED else 1)
    ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test frames)")
    ax.legend(loc="lower right", fontsize="small")
    _save(fig, path)


def plot_reliability(labels: np.ndarray, before: np.ndarray, after: np.ndarray, path: str | Path,
                     bins: int = ECE_BINS) -> None:
    """Reliability diagram (top-label accuracy vs confidence per bin) before/after scaling."""
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    for probs, label in ((before, "before"), (after, "after")):
        r = reliability_bins(labels, probs, bins)
        filled = r.count > 0
        ax.plot(r.confidence[filled], r.accuracy[filled], marker="o",
                label=f"{label} temperature scaling (ECE {ece(labels, probs, bins):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1)
    ax.set(xlabel="confidence", ylabel="accuracy", xlim=(0.45, 1.0), ylim=(0.0, 1.02),
           title="Reliability of the distilled student")
    ax.legend(loc="upper left", fontsize="small")
    _save(fig, path)


def write_report(out_dir: str | Path, inputs: ReportInputs, echo: bool = True) -> dict[str, Any]:
    """Build the report, print its Markdown when `echo`, and save report.json, report.md,
    roc.png, (given `uncalibrated` and a distilled row) reliability.png and (given
    `robustness`) robustness.png in `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = build_report(inputs)
    markdown = render_markdown(report)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(markdown)
    plot_roc(inputs.rows, inputs.labels, out / "roc.png")
    distilled = inputs.row(Role.DISTILLED)
    if inputs.uncalibrated is not None and distilled is not None:
        plot_reliability(inputs.labels, inputs.uncalibrated, distilled.probs, out / "reliability.png",
                         inputs.bins)
    if inputs.robustness:
        plot_robustness(inputs.robustness, out / "robustness.png")
    if echo:
        print(markdown)
    return report


def _retention_interval(inputs: ReportInputs) -> list[float] | None:
    """The bootstrap interval of retention over test videos (None without groups, or
    without a distilled or an ensemble row)."""
    ensemble, distilled = inputs.row(Role.ENSEMBLE), inputs.row(Role.DISTILLED)
    if inputs.groups is None or ensemble is None or distilled is None:
        return None
    interval = auc_ratio_interval(inputs.labels, distilled.probs, ensemble.probs, inputs.groups,
                                  confidence=RETENTION_CONFIDENCE)
    return None if interval is None else list(interval)


def _interval(bounds: Sequence[float] | None) -> str:
    if bounds is None:
        return ""
    return (f" ({RETENTION_CONFIDENCE:.0%} interval {bounds[0]:.4f}-{bounds[1]:.4f}, bootstrap"
            " over test videos)")


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _gain_kept(distilled: float | None, undistilled: float | None, ensemble: float | None
               ) -> float | None:
    if distilled is None or undistilled is None or ensemble is None or ensemble <= undistilled:
        return None
    return (distilled - undistilled) / (ensemble - undistilled)


def _mega(n: int | None) -> float | None:
    return None if n is None else n / 1e6


def _f(value: float | None, digits: int, suffix: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{suffix}"


def _save(fig: Figure, path: str | Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
