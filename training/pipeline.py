"""One run, stage by stage: data -> teachers -> soft labels -> students -> predictions ->
evaluation -> report -> export. Each stage takes the values of those before it and
caches its outputs in the run folder (`training.run`), so `--resume` continues an
interrupted run. Under DDP every rank runs the stages up to the students (rank 0 alone
writing); then rank 0 alone predicts, evaluates, reports and exports, and the others end."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from training.config import Config
from training.data.stage import stage_data
from training.distributed import is_main
from training.evaluation.predictions import stage_predict
from training.evaluation.stage import stage_evaluate
from training.export.stage import stage_export
from training.report.stage import stage_report
from training.run import start_run
from training.softlabels.stage import stage_soft_labels
from training.students.plan import plan_students
from training.students.stage import stage_students
from training.teachers.stage import stage_teachers

log = logging.getLogger(__name__)
T = TypeVar("T")


def run_pipeline(config: Config, run_dir: Path, resume: bool = False) -> Path | None:
    """All stages; returns the exported model's path (None on ranks other than 0). Logs
    each stage's wall clock."""
    started = time.perf_counter()
    fits = plan_students(config)  # the students' nets and losses, before any work (and seeding)
    run = start_run(config, run_dir, resume)
    data = _timed("data", stage_data, run)
    teachers = _timed("teachers", stage_teachers, run, data.frames)
    soft = _timed("soft labels", stage_soft_labels, run, data.frames, teachers)
    students = _timed("students", stage_students, run, data.frames, teachers, soft, fits)
    if not is_main():
        log.info("trained; rank 0 predicts, evaluates, reports and exports")
        return None
    predictions = _timed("predictions", stage_predict, run, data.frames, teachers, students)
    evaluation = _timed("evaluation", stage_evaluate, run, data.frames, teachers, students, predictions)
    report = _timed("report", stage_report, run, predictions, evaluation)
    model = _timed("export", stage_export, run, data.provenance, teachers, evaluation, report)
    log.info("run %s done in %.1f s", run.dir, time.perf_counter() - started)
    return model


def _timed(name: str, stage: Callable[..., T], *args: Any) -> T:
    """`stage(*args)`, its wall clock logged."""
    started = time.perf_counter()
    out = stage(*args)
    log.info("stage %s: %.1f s", name, time.perf_counter() - started)
    return out
