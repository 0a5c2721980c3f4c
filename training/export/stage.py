"""The export stage: RUN/model.onnx, the chosen variant of the served student with a card
carrying the provenance (teachers, sizes, evaluation figures, git commit, how many processes
trained on which device), and the same in
ONNX Runtime's mobile format (RUN/model.ort, with the operators a reduced build needs)."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import onnx

from training.evaluation.stage import Evaluation
from training.modelfile.cardfile import attach_card, read_card
from training.modelfile.mobile import CONFIG_SUFFIX, export_ort
from training.run import MODEL_FILE, Run
from training.teachers.members import Teacher


def stage_export(run: Run, provenance: Mapping[str, Any], teachers: Sequence[Teacher],
                 evaluation: Evaluation, report: Mapping[str, Any]) -> Path:
    """Write RUN/model.onnx (and model.ort); returns the ONNX file's path."""
    out = run.dir / MODEL_FILE
    served = evaluation.figures(evaluation.student)
    variants = evaluation.variants
    source = Path(served["onnx"])
    if variants is not None:
        source = Path(next(v["path"] for v in variants["variants"] if v["name"] == variants["chosen"]))
    proto = onnx.load(source)
    card = read_card(proto, str(source)).model_copy(update={
        "name": run.config.export.name, "config_hash": provenance["config_hash"],
        "data_hash": provenance["data_hash"],
        "provenance": {
            "git_commit": provenance["git_commit"], "run": run.config.name,
            "trained": {k: provenance[k] for k in ("world_size", "device")},
            "teachers": [{"name": t.spec.name, "key": t.key, "size": t.spec.size,
                          **{k: evaluation.figures(t.entry)[k] for k in ("params", "macs")}}
                         for t in teachers],
            "student": {"name": evaluation.student.name,
                        **{k: served[k] for k in ("size", "params", "macs")}},
            "evaluation": {r["name"]: {k: r[k] for k in ("auc", "accuracy", "log_loss", "ece")}
                           for r in report["rows"]},
            "summary": report["summary"],
        },
    })
    tmp = out.with_name(f".{out.name}.tmp")
    onnx.save(attach_card(proto, card), tmp)
    tmp.replace(out)
    export_ort(out)
    return out


def copy_model(run_dir: Path, to: Path) -> Path:
    """Copy a finished run's model file to `to` (NAME.onnx), its mobile files beside it."""
    source = run_dir / MODEL_FILE
    if not source.is_file():
        raise FileNotFoundError(f"{run_dir} has no {MODEL_FILE} yet: finish it with "
                                f"`distilscreen distill {run_dir}/config.yaml --out {run_dir} --resume`")
    to.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, to)
    if source.with_suffix(".ort").is_file():  # runs made before the mobile format
        shutil.copyfile(source.with_suffix(".ort"), to.with_suffix(".ort"))
        shutil.copyfile(source.with_name(source.stem + CONFIG_SUFFIX), to.with_name(to.stem + CONFIG_SUFFIX))
    return to
