"""The students stage: every student net distilled from the soft targets and, for the
exported one if asked, the same net on hard labels only (the report's baseline); the nets
and their losses were built when the run started (`training.students.plan`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from training.data import UNLABELLED
from training.data.frameset import FrameDataset
from training.data.stage import SplitFrames
from training.entries import ModelEntry
from training.loop import Hint, fit
from training.nets import BinaryClassifier
from training.run import Run
from training.students.plan import StudentFit
from training.teachers.members import Teacher


@dataclass(frozen=True)
class Student:
    """A trained student: which one it is, its input size and the net."""

    entry: ModelEntry
    size: int
    net: BinaryClassifier


def hint_for(run: Run, teachers: Sequence[Teacher]) -> Hint | None:
    """The live teacher of the FitNets/AT terms, if `students.hint_teacher` names one."""
    key = run.config.students.hint_teacher
    if key is None:
        return None
    by_key = {t.key: t for t in teachers}
    if key not in by_key:
        raise ValueError(f"students.hint_teacher {key!r} is not a teacher; choices: {list(by_key)}")
    return Hint(by_key[key].net.to(run.device).eval(), by_key[key].spec.size)


def stage_students(run: Run, frames: SplitFrames, teachers: Sequence[Teacher],
                   soft: Sequence[np.ndarray], fits: Sequence[StudentFit]) -> tuple[Student, ...]:
    """Train each of `fits` (`training.students.plan`, built when the run started) with the
    recipe `students`: the distilled ones on the soft targets `soft` (the hint teacher live
    for feature terms), the undistilled baseline on the hard labels of the labelled clips."""
    cfg, hint = run.config, hint_for(run, teachers)
    students = []
    for student in fits:
        transfer = [view[student.size] for view in frames.transfer]
        if not student.distilled:  # hard labels only: just the clips that have one
            transfer = [view.take(np.flatnonzero(view.labels != UNLABELLED)) for view in transfer]
        targets = soft if student.distilled else None
        data = FrameDataset(transfer, cfg.seed, targets, random_flip=cfg.students.random_flip)
        out = run.dir / "students" / student.entry.name / student.folder
        fit(student.net, student.loss, data, cfg.students, out, student.seed, run.device,
            desc=student.entry.label.replace(":", " "), hint=hint if student.distilled else None)
        students.append(Student(student.entry, student.size, student.net))
    return tuple(students)
