"""One run, stage by stage: data -> teachers -> soft labels -> students -> predictions ->
evaluation -> report -> export. Each stage takes the values of those before it and
caches its outputs in the run folder (`training.run`), so `--resume` continues an
interrupted run."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from training.config import Config
from training.data.stage import stage_data
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


def run_pipeline(config: Config, run_dir: Path, resume: bool = False) -> Path:
    """All stages; returns the exported model's path."""
    started = time.perf_counter()
    fits = plan_students(config)  # the students' nets and losses, before any work (and seeding)
    run = start_run(config, run_dir, resume)
    data = stage_data(run)
    teachers = stage_teachers(run, data.frames)
    soft = stage_soft_labels(run, data.frames, teachers)
    students = stage_students(run, data.frames, teachers, soft, fits)
    predictions = stage_predict(run, data.frames, teachers, students)
    evaluation = stage_evaluate(run, data.frames, teachers, students, predictions)
    report = stage_report(run, predictions, evaluation)
    model = stage_export(run, data.provenance, teachers, evaluation, report)
    log.info("run %s done in %.1f s", run.dir, time.perf_counter() - started)
    return model
