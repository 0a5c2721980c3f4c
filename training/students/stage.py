"""The students stage: every student net distilled from the soft targets and, for the
exported one if asked, the same net on hard labels only (the report's baseline)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from training.config import Config
from training.data import UNLABELLED
from training.data.frameset import FrameDataset
from training.data.stage import SplitFrames
from training.entries import ModelEntry, Role
from training.loop import Hint, fit, hard_labels, student_loss
from training.nets import NETS, BinaryClassifier
from training.run import Run
from training.teachers.members import Teacher


@dataclass(frozen=True)
class Student:
    """A trained student: which one it is, its input size and the net."""

    entry: ModelEntry
    size: int
    net: BinaryClassifier


def exported_student(config: Config) -> ModelEntry:
    """The distilled student that becomes the model file (default: the first; the config
    has checked that `students.export` is one)."""
    students = config.students
    return ModelEntry(Role.DISTILLED, students.export or students.nets[0].name)


def hint_for(run: Run, teachers: Sequence[Teacher]) -> Hint | None:
    """The live teacher of the FitNets/AT terms, if `students.hint_teacher` names one."""
    key = run.config.students.hint_teacher
    if key is None:
        return None
    by_key = {t.key: t for t in teachers}
    if key not in by_key:
        raise ValueError(f"students.hint_teacher {key!r} is not a teacher; choices: {list(by_key)}")
    return Hint(by_key[key].net.to(run.device).eval(), by_key[key].spec.size)


def stage_students(run: Run, frames: SplitFrames, teachers: Sequence[Teacher], soft: np.ndarray
                   ) -> tuple[Student, ...]:
    """Each student net with the distillation loss and, if asked, the exported one also
    with hard labels only, from the same initial weights, both with the recipe `students`.
    The distilled loss is the config's validated spec, its KD term at the soft targets'
    temperature."""
    cfg, hint = run.config, hint_for(run, teachers)
    s, exported, students = cfg.students, exported_student(run.config), []
    for i, spec in enumerate(s.nets):
        distilled = ModelEntry(Role.DISTILLED, spec.name)
        variants = [(distilled, "distilled", soft)]
        if s.undistilled and distilled == exported:
            variants.append((distilled.undistilled(), "undistilled", None))
        for entry, folder, targets in variants:
            torch.manual_seed(cfg.seed + 100 + i)
            net = NETS.build(spec.name)
            is_distilled = targets is not None
            loss = (student_loss(s.loss, cfg.softlabels.temperature, net, hint.teacher if hint else None)
                    if is_distilled else hard_labels())
            transfer = frames.transfer[spec.size]
            if not is_distilled:  # hard labels only: just the clips that have one
                transfer = transfer.take(np.flatnonzero(transfer.labels != UNLABELLED))
            data = FrameDataset(transfer, cfg.seed, cfg.softlabels.views, targets, random_flip=s.random_flip)
            fit(net, loss, data, s, run.dir / "students" / spec.name / folder,
                cfg.seed + 100 + i, run.device, desc=entry.label.replace(":", " "),
                hint=hint if is_distilled else None)
            students.append(Student(entry, spec.size, net))
    return tuple(students)
