"""The models a run compares, by role: every teacher, their ensemble, the students
distilled from it, and the exported student trained on hard labels only (the baseline).

An entry's `label` is its key in predictions.npz, evaluation.json and the report
(`teacher:KEY`, `ensemble`, `student:NAME`, `undistilled:NAME`), and its role's value the
report's `role` column.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """What a model is in the comparison; the value is the report's `role`."""

    TEACHER = "teacher"
    ENSEMBLE = "ensemble"
    UNDISTILLED = "student"  # the report calls the hard-label baseline "student"
    DISTILLED = "distilled"


PREFIXES = {Role.TEACHER: "teacher", Role.DISTILLED: "student", Role.UNDISTILLED: "undistilled"}


@dataclass(frozen=True)
class ModelEntry:
    """One model of a run: its role and its name (a teacher's key, a student's net)."""

    role: Role
    name: str = ""

    @property
    def label(self) -> str:
        """The model's key in the run's files and the report."""
        return "ensemble" if self.role is Role.ENSEMBLE else f"{PREFIXES[self.role]}:{self.name}"

    @classmethod
    def from_label(cls, label: str) -> ModelEntry:
        """The entry of a `label` read back from a run's files."""
        if label == "ensemble":
            return ENSEMBLE
        prefix, _, name = label.partition(":")
        roles = {p: r for r, p in PREFIXES.items()}
        if prefix not in roles or not name:
            raise ValueError(f"not a model label: {label!r}")
        return cls(roles[prefix], name)

    def undistilled(self) -> ModelEntry:
        """The hard-label baseline of this distilled student."""
        return ModelEntry(Role.UNDISTILLED, self.name)


ENSEMBLE = ModelEntry(Role.ENSEMBLE)
