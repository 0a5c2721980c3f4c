"""What the students stage trains, built when the run starts (before any stage works): each
student net with its distillation loss and, for the exported student if asked, the same
net with cross-entropy alone (the undistilled baseline, from the same initial weights).

The loss is the config's `students.loss`, built here: its KD term at the soft targets'
temperature, its FitNets regressor sized from the student's and the hint teacher's last
feature maps (the hint teacher's architecture is built for that; the trained one runs live
in the stage). Each net and its loss are made right after seeding with the student's seed,
as the stage made them, so their initial weights do not depend on when they are built.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from training.config import Config
from training.entries import ModelEntry, Role
from training.loop import hard_labels
from training.losses import LossSpec, WeightedSum
from training.nets import NETS, BinaryClassifier
from training.teachers.members import build_teacher, member_keys


@dataclass(frozen=True)
class StudentFit:
    """One student to train: which model it is, its folder under RUN/students/NAME/, its
    input size and seed, the net and its loss; `distilled` ones fit the soft targets."""

    entry: ModelEntry
    folder: str
    size: int
    seed: int
    net: BinaryClassifier
    loss: WeightedSum

    @property
    def distilled(self) -> bool:
        """Whether it fits the soft targets (else the hard labels alone)."""
        return self.entry.role is Role.DISTILLED


def exported_student(config: Config) -> ModelEntry:
    """The distilled student that becomes the model file (default: the first; the config
    has checked that `students.export` is one)."""
    students = config.students
    return ModelEntry(Role.DISTILLED, students.export or students.nets[0].name)


def plan_students(config: Config) -> tuple[StudentFit, ...]:
    """Every student to train, in the order the stage trains them (see the module docstring)."""
    s, exported, fits = config.students, exported_student(config), []
    hint_channels = hint_teacher_channels(config)
    for i, spec in enumerate(s.nets):
        distilled = ModelEntry(Role.DISTILLED, spec.name)
        baseline = [distilled.undistilled()] if s.undistilled and distilled == exported else []
        for entry in [distilled, *baseline]:
            seed = config.seed + 100 + i
            torch.manual_seed(seed)
            net = NETS.build(spec.name)
            loss = (student_loss(s.loss, config.softlabels.temperature, net, hint_channels)
                    if entry is distilled else hard_labels())
            fits.append(StudentFit(entry, "distilled" if entry is distilled else "undistilled",
                                   spec.size, seed, net, loss))
    return tuple(fits)


def hint_teacher_channels(config: Config) -> int | None:
    """The channels of `students.hint_teacher`'s last feature map (None without one)."""
    key = config.students.hint_teacher
    if key is None:
        return None
    members = dict(zip(member_keys(config.teachers), config.teachers.members, strict=True))
    return build_teacher(members[key]).feature_channels[-1]


def student_loss(spec: LossSpec, temperature: float, student: BinaryClassifier,
                 hint_channels: int | None) -> WeightedSum:
    """The distillation loss of `spec`: the KD term at `temperature` (the soft targets'),
    the FitNets regressor from the student's last feature map to `hint_channels`."""
    needing = spec.feature_terms() if hint_channels is None else []
    if needing:
        raise ValueError(f"loss term(s) {needing} read feature maps and need students.hint_teacher")
    return spec.build(temperature=temperature, student_channels=student.feature_channels[-1],
                      teacher_channels=hint_channels)
