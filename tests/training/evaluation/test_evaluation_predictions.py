"""training/evaluation/predictions.py: the logits of every model by split, saved and loaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.entries import ENSEMBLE, ModelEntry, Role
from training.evaluation.predictions import Predictions


def test_predictions_are_looked_up_by_entry_and_round_trip(tmp_path: Path) -> None:
    teacher = ModelEntry(Role.TEACHER, "srm_resnet")
    arrays = {"test/labels": np.array([0, 1]), "test/videos": np.array([0, 0]),
              "test/teacher:srm_resnet": np.zeros((2, 2), np.float32),
              "test/ensemble": np.ones((2, 2), np.float32)}
    predictions = Predictions(arrays)
    predictions.save(tmp_path / "p.npz")
    loaded = Predictions.load(tmp_path / "p.npz")
    assert loaded.arrays.keys() == arrays.keys()
    assert np.array_equal(loaded.logits("test", teacher), arrays["test/teacher:srm_resnet"])
    assert np.array_equal(loaded.logits("test", ENSEMBLE), arrays["test/ensemble"])
    assert list(loaded.labels("test")) == [0, 1] and list(loaded.videos("test")) == [0, 0]
