"""training/entries.py: a model's label in the run's files, and back."""

from __future__ import annotations

import pytest

from training.entries import ENSEMBLE, ModelEntry, Role


@pytest.mark.parametrize(("entry", "label"), [
    (ModelEntry(Role.TEACHER, "srm_resnet-2"), "teacher:srm_resnet-2"),
    (ENSEMBLE, "ensemble"),
    (ModelEntry(Role.DISTILLED, "patchnet_s"), "student:patchnet_s"),
    (ModelEntry(Role.UNDISTILLED, "patchnet_s"), "undistilled:patchnet_s"),
])
def test_labels_round_trip(entry: ModelEntry, label: str) -> None:
    assert entry.label == label
    assert ModelEntry.from_label(label) == entry


def test_the_baseline_of_a_distilled_student_and_the_report_roles() -> None:
    distilled = ModelEntry(Role.DISTILLED, "patchnet_s")
    assert distilled.undistilled() == ModelEntry(Role.UNDISTILLED, "patchnet_s")
    assert [r.value for r in Role] == ["teacher", "ensemble", "student", "distilled"]


@pytest.mark.parametrize("label", ["oracle:x", "teacher:", "student"])
def test_other_labels_are_refused(label: str) -> None:
    with pytest.raises(ValueError, match="not a model label"):
        ModelEntry.from_label(label)
