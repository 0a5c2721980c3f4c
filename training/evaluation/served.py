"""Checks of the served student's ONNX file: its FP16/INT8 variants (`training.modelfile.variants`)
and its robustness beside the ensemble's (`training.evaluation.robustness`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training.data import sample_frames
from training.data.faces import face_sampler
from training.data.stage import SplitFrames
from training.entries import ENSEMBLE, ModelEntry
from training.evaluation.robustness import robustness_table
from training.modelfile.speed import load_engine
from training.modelfile.variants import select_variants
from training.run import Run
from training.softlabels.targets import ensemble_probs
from training.teachers.members import Teacher

CALIBRATION_FRAMES = 256  # training frames the INT8 quantisation is calibrated on


def served_variants(run: Run, frames: SplitFrames, student: Mapping[str, Any]) -> dict[str, Any] | None:
    """The variant decision for the student's ONNX file, or None when none is asked."""
    wanted = [v for v in ("fp16", "int8") if getattr(run.config.export, v)]
    if not wanted:
        return None
    size, test = student["size"], frames.test[student["size"]]
    decision = select_variants(
        student["onnx"], calibration_frames=frames.train[0][size].frames[:CALIBRATION_FRAMES],
        test_frames=test.frames, test_labels=test.labels, variants=wanted,
        batch_size=run.config.evaluation.speed_batch, seconds=run.config.evaluation.speed_seconds)
    return decision.as_dict()


def served_robustness(run: Run, frames: SplitFrames, teachers: Sequence[Teacher], student: ModelEntry,
                      models: Mapping[ModelEntry, Mapping[str, Any]]
                      ) -> dict[str, dict[str, dict[str, float]]]:
    """Frame/video AUC of the served student and of the ensemble on the test clips, clean
    and degraded; every model runs from its ONNX file, on face crops when the run has them
    (a degraded clip may lose faces: it scores fewer frames)."""
    n, seed, served = run.config.data.eval_frames_per_video, run.config.seed, models[student]
    faces = face_sampler(run.config.data.crop)
    clips = frames.test[served["size"]].samples
    engine = load_engine(served["onnx"])
    members = [(load_engine(models[t.entry]["onnx"]), t.spec.size) for t in teachers]
    weights = [t.spec.weight for t in teachers]

    def score_student(paths: Sequence[Path]) -> list[np.ndarray]:
        return [engine.predict(sample_frames(p, n, served["size"], seed, faces)) for p in paths]

    def score_ensemble(paths: Sequence[Path]) -> list[np.ndarray]:
        return [ensemble_probs(np.stack([member.logits(sample_frames(p, n, size, seed, faces))
                                         for member, size in members]), 1.0, weights)[:, 1]
                for p in paths]

    args = ([s.path for s in clips], [s.label for s in clips])
    cache = run.cache_dir / "degraded"
    return {student.label: robustness_table(*args, score_student, cache),
            ENSEMBLE.label: robustness_table(*args, score_ensemble, cache)}
