"""The last stages of a run: calibrate every model on validation logits, export every net
to ONNX (timed side by side in ONNX Runtime), decide the FP16/INT8 variants, write the
report, and write the final model file with its full card.

    RUN/onnx/LABEL.onnx      every teacher and student (the speed figures' source)
    RUN/evaluation.json      per model: calibration, test figures, size, frames/s; variants
    RUN/report.{json,md}, roc.png, reliability.png   (training.report)
    RUN/model.onnx           the served student: calibrated, card with all figures

`write_run_report(RUN)` rebuilds the report from predictions.npz and evaluation.json
alone (what `distilscreen evaluate RUN` does).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from app.contract.card import Calibration
from training.calibrate import CalibrationFit, calibrate, p_synthetic
from training.cardfile import attach_card, read_card
from training.data import sample_frames
from training.data.faces import crop_at, face_sampler
from training.export import Variant, VariantDecision, export_student, select_variants
from training.metrics import evaluate
from training.nets import count_flops, count_params
from training.pipeline import PREDICTIONS, Run, Trained, exported_label, load_run_config
from training.report import ReportInputs, ReportRow, write_report
from training.robustness import robustness_table
from training.softlabels import ensemble_probs
from training.speed import compare_speed, ensemble_frames_per_second, load_engine

EVALUATION = "evaluation.json"
MODEL_FILE = "model.onnx"
PARITY_FRAMES = 512  # test frames each export's ONNX-vs-torch parity check runs on


def stage_evaluate(run: Run, trained: Trained) -> dict[str, Any]:
    """Calibrate, export and time every model; decide variants; write the report."""
    path = run.dir / EVALUATION
    if path.is_file():
        return json.loads(path.read_text())
    cfg, predictions = run.config, np.load(run.dir / PREDICTIONS)
    # label -> (net, size, its ONNX file when one exists: a teacher's, made for labelling)
    nets = {f"teacher:{t.key}": (t.net, t.spec.size, t.onnx) for t in trained.teachers}
    nets |= {label: (net, size, None) for label, (size, net) in trained.students.items()}
    fits = {label: calibrate(predictions[f"val/{label}"], predictions["val/labels"])
            for label in [*nets, "ensemble"]}
    models: dict[str, dict[str, Any]] = {}
    for label, (net, size, graph) in nets.items():
        onnx_path = run.dir / "onnx" / f"{label.replace(':', '-')}.onnx"
        export_student(net, onnx_path, name=label, version=cfg.export.version,
                       frames=run.frames["test"][size].frames[:PARITY_FRAMES],
                       calibration=Calibration(temperature=fits[label].temperature,
                                               threshold=fits[label].threshold),
                       crop=crop_at(cfg.data.crop, size), graph=graph)
        models[label] = {"onnx": str(onnx_path), "size": size, "params": count_params(net),
                         "macs": count_flops(net, (3, size, size))}
    speeds = compare_speed([m["onnx"] for m in models.values()], batch_size=cfg.evaluation.speed_batch,
                           rounds=cfg.evaluation.speed_rounds, seconds=cfg.evaluation.speed_seconds)
    for figures, fps in zip(models.values(), speeds, strict=True):
        figures["frames_per_s"] = fps
    teachers = [models[f"teacher:{t.key}"] for t in trained.teachers]
    models["ensemble"] = {
        "params": sum(t["params"] for t in teachers), "macs": sum(t["macs"] for t in teachers),
        "frames_per_s": ensemble_frames_per_second([t["frames_per_s"] for t in teachers]),
    }
    for label, fit in fits.items():
        models[label]["calibration"] = fit.as_dict()
        probs = p_synthetic(predictions[f"test/{label}"], fit.temperature)
        models[label]["test"] = evaluate(predictions["test/labels"], probs, threshold=fit.threshold,
                                         groups=predictions["test/videos"]).as_dict()
    student = exported_label(run)
    evaluation = {"models": models, "student": student, "variants": _variants(run, models[student]),
                  "robustness": _robustness(run, trained, student, models)
                  if cfg.evaluation.robustness else None}
    path.write_text(json.dumps(evaluation, indent=2) + "\n")
    write_run_report(run.dir)
    return evaluation


def _variants(run: Run, student: dict[str, Any]) -> dict[str, Any] | None:
    wanted = [v for v in ("fp16", "int8") if getattr(run.config.export, v)]
    if not wanted:
        return None
    size, test = student["size"], run.frames["test"][student["size"]]
    decision = select_variants(
        student["onnx"], calibration_frames=run.frames["train"][size].frames[:256],
        test_frames=test.frames, test_labels=test.labels, variants=wanted,
        batch_size=run.config.evaluation.speed_batch, seconds=run.config.evaluation.speed_seconds)
    return decision.as_dict()


def _robustness(run: Run, trained: Trained, label: str, models: dict[str, dict[str, Any]]
                ) -> dict[str, dict[str, dict[str, float]]]:
    """Frame/video AUC of the served student and of the ensemble on the test clips, clean
    and degraded (`training.robustness`); every model runs from its ONNX file, on face
    crops when the run has them (a degraded clip may lose faces: it scores fewer frames)."""
    n, seed, student = run.config.data.eval_frames_per_video, run.config.seed, models[label]
    faces = face_sampler(run.config.data.crop)
    clips = run.frames["test"][student["size"]].samples
    engine = load_engine(student["onnx"])
    members = [(load_engine(models[f"teacher:{t.key}"]["onnx"]), t.spec.size) for t in trained.teachers]
    weights = [t.spec.weight for t in trained.teachers]

    def served(paths: Sequence[Path]) -> list[np.ndarray]:
        return [engine.predict(sample_frames(p, n, student["size"], seed, faces)) for p in paths]

    def ensemble(paths: Sequence[Path]) -> list[np.ndarray]:
        return [ensemble_probs(np.stack([member.logits(sample_frames(p, n, size, seed, faces))
                                         for member, size in members]), 1.0, weights)[:, 1]
                for p in paths]

    args = ([s.path for s in clips], [s.label for s in clips])
    cache = run.cache_dir / "degraded"
    return {label: robustness_table(*args, served, cache),
            "ensemble": robustness_table(*args, ensemble, cache)}


def report_inputs(run_dir: Path) -> ReportInputs:
    """The report's inputs from a finished run's predictions.npz and evaluation.json."""
    predictions = np.load(run_dir / PREDICTIONS)
    evaluation = json.loads((run_dir / EVALUATION).read_text())
    student = evaluation["student"]
    undistilled = student.replace("student:", "undistilled:", 1)
    roles = {label: "teacher" for label in evaluation["models"] if label.startswith("teacher:")}
    roles |= {"ensemble": "ensemble", student: "distilled"}
    if undistilled in evaluation["models"]:
        roles[undistilled] = "student"
    rows = []
    for label, role in roles.items():
        figures = evaluation["models"][label]
        fit = figures["calibration"]
        rows.append(ReportRow(
            name=label, role=role, probs=p_synthetic(predictions[f"test/{label}"], fit["temperature"]),
            threshold=fit["threshold"], params=figures["params"], macs=figures["macs"],
            frames_per_s=figures["frames_per_s"]))
    variants = evaluation["variants"]
    return ReportInputs(
        rows=rows, labels=predictions["test/labels"], groups=predictions["test/videos"],
        calibration=CalibrationFit(**evaluation["models"][student]["calibration"]),
        uncalibrated=p_synthetic(predictions[f"test/{student}"]),
        variants=None if variants is None else VariantDecision(
            [Variant(**v) for v in variants["variants"]], variants["chosen"]),
        robustness=evaluation["robustness"],
    )


def write_run_report(run_dir: Path, echo: bool = True) -> dict[str, Any]:
    """(Re)write RUN/report.* from the run's saved figures; returns the report."""
    return write_report(run_dir, report_inputs(run_dir), echo=echo)


def stage_export(run: Run, trained: Trained, evaluation: dict[str, Any]) -> Path:
    """RUN/model.onnx: the chosen variant of the exported student, its card carrying the
    provenance (teachers, sizes, evaluation figures, git commit)."""
    out = run.dir / MODEL_FILE
    variants = evaluation["variants"]
    source = Path(evaluation["models"][evaluation["student"]]["onnx"])
    if variants is not None:
        source = Path(next(v["path"] for v in variants["variants"] if v["name"] == variants["chosen"]))
    _, provenance = load_run_config(run.dir)
    report = json.loads((run.dir / "report.json").read_text())
    proto = onnx.load(source)
    card = read_card(proto, str(source))
    card = card.model_copy(update={
        "name": run.config.export.name, "config_hash": provenance["config_hash"],
        "data_hash": provenance["data_hash"],
        "provenance": {
            "git_commit": provenance["git_commit"], "run": run.config.name,
            "teachers": [{"name": t.spec.name, "key": t.key, "size": t.spec.size,
                          "params": evaluation["models"][f"teacher:{t.key}"]["params"],
                          "macs": evaluation["models"][f"teacher:{t.key}"]["macs"]}
                         for t in trained.teachers],
            "student": {"name": evaluation["student"].split(":", 1)[1],
                        **{k: evaluation["models"][evaluation["student"]][k]
                           for k in ("size", "params", "macs")}},
            "evaluation": {r["name"]: {k: r[k] for k in ("auc", "accuracy", "log_loss", "ece")}
                           for r in report["rows"]},
            "summary": report["summary"],
        },
    })
    tmp = out.with_name(f".{out.name}.tmp")
    onnx.save(attach_card(proto, card), tmp)
    tmp.replace(out)
    return out


def copy_model(run_dir: Path, to: Path) -> Path:
    """Copy a finished run's model file to `to`."""
    source = run_dir / MODEL_FILE
    if not source.is_file():
        raise FileNotFoundError(f"{run_dir} has no {MODEL_FILE} yet: finish it with "
                                f"`distilscreen distill {run_dir}/config.yaml --out {run_dir} --resume`")
    to.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, to)
    return to
