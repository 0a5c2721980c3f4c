"""One run, stage by stage: data -> teachers -> soft-label cache -> students ->
calibration -> evaluation -> export. Every stage leaves its outputs in the run folder and
is skipped when they are there, so `--resume` continues an interrupted run.

    RUN/config.yaml          the resolved config + provenance (git commit, data and config hash)
    RUN/data/                the built-in benchmark, when the config has no data.path
    RUN/cache/               sampled frames and soft labels
    RUN/teachers/KEY/        model.pt (last.pt while training)
    RUN/students/NAME/distilled/model.pt (and undistilled/ for the exported student)
    RUN/predictions.npz      val/test logits of every model (the evaluation's input)
    RUN/onnx/, RUN/evaluation.json, RUN/report.*, RUN/model.onnx   see training.evaluation
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
import yaml

from training.config import Config, SynthSpec, load_config
from training.data import UNLABELLED, DatasetError, FrameCache, Sample, load_dataset, split_by_group
from training.data.faces import face_sampler
from training.datasets import FrameDataset, FrameSet, load_frames
from training.distill import Hint, fit, hard_labels, pick_device, predict_logits, student_loss
from training.nets import BinaryClassifier
from training.registry import NETS
from training.softlabels import SoftLabelCache, ensemble_logits, soft_targets
from training.teachers import Teacher, train_teachers

log = logging.getLogger(__name__)
CONFIG_FILE = "config.yaml"
PREDICTIONS = "predictions.npz"
EVAL_SPLITS = ("val", "test")


class RunError(ValueError):
    """A run folder that cannot be started or resumed as asked."""


@dataclass
class Run:
    """What the stages share: the config, the folder, the device and the frames."""

    config: Config
    dir: Path
    device: torch.device
    frames: dict[str, dict[int, FrameSet]] = field(default_factory=dict)  # split -> size ->

    @property
    def cache_dir(self) -> Path:
        return Path(self.config.data.cache_dir or self.dir / "cache")


@dataclass
class Trained:
    """The nets of a run: teachers, and students by label (`student:NAME`, ...)."""

    teachers: list[Teacher]
    students: dict[str, tuple[int, BinaryClassifier]]  # label -> (input size, net)


def start_run(config: Config, run_dir: Path, resume: bool) -> Run:
    """Make (or reopen, with `resume`) the run folder; refuses to mix two configs."""
    saved = run_dir / CONFIG_FILE
    if saved.is_file():
        if not resume:
            raise RunError(f"{run_dir} already holds a run; pass --resume or another --out")
        before = yaml.safe_load(saved.read_text())["provenance"]["config_hash"]
        if before != config.digest():
            raise RunError(f"{run_dir} was started with another config (hash {before[:12]}); "
                           f"use another --out")
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    return Run(config, run_dir, pick_device(config.device))


def run_pipeline(config: Config, run_dir: Path, resume: bool = False) -> Path:
    """All stages; returns the exported model's path."""
    from training.evaluation import stage_evaluate, stage_export

    started = time.perf_counter()
    run = start_run(config, run_dir, resume)
    samples = stage_data(run)
    trained = stage_train(run, samples)
    stage_predict(run, trained)
    model = stage_export(run, trained, stage_evaluate(run, trained))
    log.info("run %s done in %.1f s", run.dir, time.perf_counter() - started)
    return model


def stage_data(run: Run) -> list[Sample]:
    """Samples with splits (generating the built-in benchmark if needed), then the
    unlabelled ones; writes config.yaml."""
    data = run.config.data
    if data.path is None:
        root = run.dir / "data"
        synthesize(root, data.synth)
        samples = load_dataset(root)
    else:
        samples = load_dataset(data.path, data.layout)
    if any(s.label == UNLABELLED for s in samples):
        raise DatasetError(f"{data.path}: layout {data.layout!r} reads no labels; name such a "
                           "folder in data.unlabelled")
    samples = split_by_group(samples, data.split_fractions, seed=run.config.seed)
    samples += unlabelled_samples(run, samples)
    write_config(run, data_hash(samples))
    return samples


def synthesize(root: Path, spec: SynthSpec) -> None:
    """The built-in benchmark's clips in `root`, unless its manifest is already there."""
    if (root / "manifest.csv").is_file():
        return
    from training.data.synth import generate

    print(generate(root, spec.videos, seed=spec.seed, size=(spec.size, spec.size),
                   frames=spec.frames, difficulty=spec.difficulty, fractions=spec.fractions,
                   face_fraction=spec.faces, workers=os.cpu_count() or 1))


def unlabelled_samples(run: Run, labelled: list[Sample]) -> list[Sample]:
    """`data.unlabelled` and `synth.unlabelled` more benchmark clips (seed + 1), marked
    UNLABELLED in the train split, less those of a group that is in val or test."""
    data = run.config.data
    clips = load_dataset(data.unlabelled, data.unlabelled_layout) if data.unlabelled else []
    if data.path is None and data.synth.unlabelled:
        root = run.dir / "unlabelled"
        synthesize(root, replace(data.synth, videos=data.synth.unlabelled, seed=data.synth.seed + 1,
                                 fractions=(1.0, 0.0, 0.0)))
        clips += load_dataset(root)
    held_out = {s.group for s in labelled if s.split != "train"}
    kept = [replace(s, label=UNLABELLED, split="train") for s in clips if s.group not in held_out]
    if len(kept) < len(clips):
        log.info("unlabelled: %d of %d clips dropped (their group is in val or test)",
                 len(clips) - len(kept), len(clips))
    return kept


def load_split_frames(run: Run, samples: list[Sample]) -> None:
    """Frames at every size a teacher or student needs: `train` (what the teachers fit:
    labelled clips only), `transfer` (what the students fit: the whole train split,
    unlabelled clips too, at `students.frames_per_video`) and the evaluation splits. With
    face crops (`data.crop`) every size holds the same faces, so the same frames."""
    cfg = run.config
    sizes = {m.size for m in cfg.teachers.members} | {s.size for s in cfg.students.nets}
    cache = FrameCache(run.cache_dir / "frames", faces=face_sampler(cfg.data.crop))
    train = [s for s in samples if s.split == "train"]
    labelled = [s for s in train if s.label != UNLABELLED]
    chosen = {"train": teacher_samples(labelled, cfg.teachers.holdout, cfg.seed), "transfer": train,
              **{split: [s for s in samples if s.split == split] for split in EVAL_SPLITS}}
    counts = {"train": cfg.data.frames_per_video,
              "transfer": cfg.students.frames_per_video or cfg.data.frames_per_video,
              **dict.fromkeys(EVAL_SPLITS, cfg.data.eval_frames_per_video)}
    for split, n in counts.items():
        if split == "transfer" and n == counts["train"] and chosen["train"] == train:
            run.frames[split] = run.frames["train"]
            continue
        run.frames[split] = {size: load_frames(chosen[split], cache, n, size, cfg.seed)
                             for size in sorted(sizes)}
        first, *others = run.frames[split].values()
        if any(not np.array_equal(f.video, first.video) for f in others):
            raise RuntimeError(f"{split}: the face crops at sizes {sorted(sizes)} hold different frames")


def teacher_samples(train: list[Sample], holdout: float, seed: int) -> list[Sample]:
    """The training samples the teachers fit: all, less a `holdout` share dealt by group."""
    if holdout <= 0:
        return train
    dealt = split_by_group(train, (1 - holdout, holdout, 0), seed, keep_given=False)
    return [s for s, d in zip(train, dealt, strict=True) if d.split == "train"]


def stage_train(run: Run, samples: list[Sample]) -> Trained:
    """Teachers, the soft-label cache, then the students (distilled; undistilled too for
    the exported one)."""
    cfg = run.config
    load_split_frames(run, samples)
    teachers = train_teachers(cfg.teachers, run.frames["train"], run.dir, cfg.seed, run.device)
    cache = SoftLabelCache(run.cache_dir / "softlabels", teachers, cfg.seed)
    soft = soft_targets(cache, teachers, run.frames["transfer"], cfg.seed, cfg.softlabels.views,
                        cfg.softlabels.temperature, run.device)
    return Trained(teachers, train_students(run, soft, hint_for(run, teachers)))


def hint_for(run: Run, teachers: list[Teacher]) -> Hint | None:
    """The live teacher of the FitNets/AT terms, if `students.hint_teacher` names one."""
    key = run.config.students.hint_teacher
    if key is None:
        return None
    by_key = {t.key: t for t in teachers}
    if key not in by_key:
        raise ValueError(f"students.hint_teacher {key!r} is not a teacher; choices: {list(by_key)}")
    return Hint(by_key[key].net.to(run.device).eval(), by_key[key].spec.size)


def exported_label(run: Run) -> str:
    """The label of the student that becomes the model file (default: the first; the
    config has checked that `students.export` is one)."""
    students = run.config.students
    return f"student:{students.export or students.nets[0].name}"


def train_students(run: Run, soft: np.ndarray, hint: Hint | None
                   ) -> dict[str, tuple[int, BinaryClassifier]]:
    """Each student net with the distillation loss (`student:NAME`) and, if asked, the
    exported one also with hard labels only (`undistilled:NAME`, the report's baseline),
    from the same initial weights, both with the recipe `students`. The distilled loss is
    the config's validated spec, its KD term at the soft targets' temperature."""
    cfg, students = run.config, {}
    s = cfg.students
    exported = exported_label(run)
    for i, spec in enumerate(s.nets):
        variants = [("student", "distilled", soft)] + (
            [("undistilled", "undistilled", None)]
            if s.undistilled and f"student:{spec.name}" == exported else [])
        for label, folder, targets in variants:
            torch.manual_seed(cfg.seed + 100 + i)
            net = NETS.build(spec.name)
            distilled = targets is not None
            loss = (student_loss(s.loss, cfg.softlabels.temperature, net, hint.teacher if hint else None)
                    if distilled else hard_labels())
            frames = run.frames["transfer"][spec.size]
            if not distilled:  # hard labels only: just the clips that have one
                frames = frames.take(np.flatnonzero(frames.labels != UNLABELLED))
            data = FrameDataset(frames, cfg.seed, cfg.softlabels.views, targets,
                                random_flip=s.random_flip)
            fit(net, loss, data, s, run.dir / "students" / spec.name / folder,
                cfg.seed + 100 + i, run.device, desc=f"{label} {spec.name}",
                hint=hint if distilled else None)
            students[f"{label}:{spec.name}"] = (spec.size, net)
    return students


def stage_predict(run: Run, trained: Trained) -> Path:
    """Val/test logits of every teacher, the ensemble and every student -> predictions.npz."""
    path = run.dir / PREDICTIONS
    if path.is_file():
        return path
    cfg = run.config
    cache = SoftLabelCache(run.cache_dir / "softlabels", trained.teachers, cfg.seed)
    weights = [t.spec.weight for t in trained.teachers]
    arrays: dict[str, np.ndarray] = {}
    for split in EVAL_SPLITS:
        frames = run.frames[split]
        anyset = next(iter(frames.values()))
        arrays[f"{split}/labels"] = anyset.labels
        arrays[f"{split}/videos"] = anyset.video
        members = cache.member_logits(trained.teachers, frames, cfg.seed, 0, run.device)
        for teacher, logits in zip(trained.teachers, members, strict=True):
            arrays[f"{split}/teacher:{teacher.key}"] = logits
        arrays[f"{split}/ensemble"] = ensemble_logits(members, weights)
        for label, (size, net) in trained.students.items():
            arrays[f"{split}/{label}"] = predict_logits(net, frames[size], run.device)
    np.savez(path, **arrays)
    return path


def data_hash(samples: list[Sample]) -> str:
    """sha256 over every sample's split, label, group and file content."""
    digest = hashlib.sha256()
    for s in sorted(samples, key=lambda s: (str(s.split), s.group, Path(s.path).name)):
        content = hashlib.sha256(Path(s.path).read_bytes()).hexdigest()
        digest.update(f"{s.split}|{s.label}|{s.group}|{content}\n".encode())
    return digest.hexdigest()


def git_commit() -> str:
    """HEAD's commit (with "+dirty" when the tree has changes), or "unknown"."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty.strip() else "")


def write_config(run: Run, data_digest: str) -> None:
    """RUN/config.yaml: the resolved config and its provenance (loadable as a config)."""
    body = run.config.to_dict() | {"provenance": {
        "git_commit": git_commit(), "data_hash": data_digest,
        "config_hash": run.config.digest(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }}
    (run.dir / CONFIG_FILE).write_text(yaml.safe_dump(body, sort_keys=False))


def load_run_config(run_dir: Path) -> tuple[Config, dict]:
    """A run's config and its provenance."""
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise RunError(f"{run_dir} is not a run folder (no {CONFIG_FILE})")
    return load_config(path), yaml.safe_load(path.read_text())["provenance"]
