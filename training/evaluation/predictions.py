"""The predict stage: val/test logits of every teacher, the ensemble and every student,
cached in RUN/predictions.npz (the evaluation's and the report's input)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.data.stage import SplitFrames
from training.entries import ENSEMBLE, ModelEntry
from training.loop import predict_logits
from training.run import PREDICTIONS, Run
from training.softlabels.stage import label_cache
from training.softlabels.targets import ensemble_logits
from training.students.stage import Student
from training.teachers.members import Teacher


@dataclass(frozen=True)
class Predictions:
    """Per evaluation split: the labels, the video of each frame and every model's logits."""

    arrays: Mapping[str, np.ndarray]

    def logits(self, split: str, entry: ModelEntry) -> np.ndarray:
        """(N, 2) logits of one model."""
        return self.arrays[f"{split}/{entry.label}"]

    def labels(self, split: str) -> np.ndarray:
        """The label of each frame."""
        return self.arrays[f"{split}/labels"]

    def videos(self, split: str) -> np.ndarray:
        """The video (index) of each frame."""
        return self.arrays[f"{split}/videos"]

    def save(self, path: Path) -> None:
        """Write an .npz file."""
        np.savez(path, **self.arrays)

    @classmethod
    def load(cls, path: Path) -> Predictions:
        """Read an .npz file `save` wrote."""
        with np.load(path) as saved:
            return cls({key: saved[key] for key in saved.files})


def stage_predict(run: Run, frames: SplitFrames, teachers: Sequence[Teacher],
                  students: Sequence[Student]) -> Predictions:
    """Every model's logits on the evaluation splits (from predictions.npz when there)."""
    path = run.dir / PREDICTIONS
    if path.is_file():
        return Predictions.load(path)
    cache, weights = label_cache(run, teachers), [t.spec.weight for t in teachers]
    arrays: dict[str, np.ndarray] = {}
    for split, by_size in frames.evaluated().items():
        anyset = next(iter(by_size.values()))
        arrays[f"{split}/labels"] = anyset.labels
        arrays[f"{split}/videos"] = anyset.video
        members = cache.member_logits(teachers, by_size, run.config.seed, 0, run.device)
        for teacher, logits in zip(teachers, members, strict=True):
            arrays[f"{split}/{teacher.entry.label}"] = logits
        arrays[f"{split}/{ENSEMBLE.label}"] = ensemble_logits(members, weights)
        for student in students:
            arrays[f"{split}/{student.entry.label}"] = predict_logits(student.net, by_size[student.size],
                                                                      run.device)
    predictions = Predictions(arrays)
    predictions.save(path)
    return predictions
