"""The data stage: samples with splits (generating the built-in benchmark if needed), the
unlabelled clips, and the frames at every size a teacher or student needs, in every view
the teachers and students train on (degraded by `degrade` from view 1 on)."""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from training.config import Config, SynthSpec
from training.data import UNLABELLED, DatasetError, FrameCache, Sample, load_dataset, split_by_group
from training.data.faces import face_sampler
from training.data.frameset import FrameSet, load_frames, sample_key
from training.degrade import Degradation
from training.distributed import main_first
from training.run import Run, write_config

log = logging.getLogger(__name__)
EVAL_SPLITS = ("val", "test")

BySize = Mapping[int, FrameSet]  # the same frames at each input size
Views = tuple[BySize, ...]  # view v of a split (`training.data.frameset`), at each size


@dataclass(frozen=True)
class SplitFrames:
    """`train`: what the teachers fit (labelled clips only), a view per epoch of the
    longest-trained member; `transfer`: what the students fit (the whole train split,
    unlabelled clips too), `softlabels.views` views; `val`, `test`: the evaluation's, clean."""

    train: Views
    transfer: Views
    val: BySize
    test: BySize

    def evaluated(self) -> dict[str, BySize]:
        """The evaluation splits by name."""
        return {"val": self.val, "test": self.test}


@dataclass(frozen=True)
class RunData:
    """The data stage's output: the samples, their frames and the run's provenance."""

    samples: tuple[Sample, ...]
    frames: SplitFrames
    provenance: Mapping[str, Any]


def stage_data(run: Run) -> RunData:
    """Samples and frames; writes config.yaml with the data's hash. Under DDP rank 0 first
    (generating the benchmark, decoding into the frame cache), then the others from its files."""
    with main_first("the data: samples, frames and their cache"):
        samples = split_samples(run)
        provenance = write_config(run, data_hash(samples))
        return RunData(tuple(samples), load_split_frames(run, samples), provenance)


def split_samples(run: Run) -> list[Sample]:
    """The labelled samples with splits, then the unlabelled ones."""
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
    return samples + unlabelled_samples(run, samples)


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


def load_split_frames(run: Run, samples: list[Sample]) -> SplitFrames:
    """Frames of every split at every teacher's and student's size; `transfer` at
    `students.frames_per_video` (the `train` frames themselves when they are the same).
    With face crops (`data.crop`) every size holds the same faces, so the same frames."""
    cfg = run.config
    sizes = sorted({m.size for m in cfg.teachers.members} | {s.size for s in cfg.students.nets})
    cache = FrameCache(run.cache_dir / "frames", faces=face_sampler(cfg.data.crop))
    train = [s for s in samples if s.split == "train"]
    labelled = [s for s in train if s.label != UNLABELLED]
    chosen = {"train": teacher_samples(labelled, cfg.teachers.holdout, cfg.seed), "transfer": train,
              **{split: [s for s in samples if s.split == split] for split in EVAL_SPLITS}}
    counts = {"train": cfg.data.frames_per_video,
              "transfer": cfg.students.frames_per_video or cfg.data.frames_per_video,
              **dict.fromkeys(EVAL_SPLITS, cfg.data.eval_frames_per_video)}
    views = {"train": teacher_views(cfg), "transfer": cfg.softlabels.views, **dict.fromkeys(EVAL_SPLITS, 1)}
    loaded: dict[tuple[str, int], BySize] = {}  # (split, view) -> frames
    for split, n in counts.items():
        for view in range(views[split]):
            if split == "transfer" and n == counts["train"] and chosen["train"] == train \
                    and ("train", view) in loaded:
                loaded[split, view] = loaded["train", view]
            elif view > 0 and not cfg.degrade.active:  # a clean view: augmentation alone
                loaded[split, view] = loaded[split, 0]
            else:
                loaded[split, view] = load_view(chosen[split], cache, n, sizes, cfg, view, split)
    frames = {split: tuple(loaded[split, v] for v in range(views[split])) for split in counts}
    return SplitFrames(frames["train"], frames["transfer"], frames["val"][0], frames["test"][0])


def teacher_views(config: Config) -> int:
    """The views the teachers train on: one per epoch of the longest-trained member."""
    teachers = config.teachers
    return max([1, teachers.epochs, *(m.epochs or 0 for m in teachers.members)])


def load_view(samples: list[Sample], cache: FrameCache, n: int, sizes: list[int], config: Config,
              view: int, split: str) -> BySize:
    """View `view` of `samples` at every size: from view 1 on, each clip degraded by its
    draw of `config.degrade` (the same draw at every size)."""
    draws = view_degradations(samples, config, view)
    if draws:
        log.info("%s view %d: %s", split, view, summarize(draws))
    frames = {size: load_frames(samples, cache, n, size, config.seed, draws) for size in sizes}
    first, *others = frames.values()
    if any(not np.array_equal(f.video, first.video) for f in others):
        raise RuntimeError(f"{split}: the face crops at sizes {sizes} hold different frames")
    return frames


def view_degradations(samples: list[Sample], config: Config, view: int) -> list[Degradation]:
    """Each sample's degradation in `view` (none: view 0, or no `degrade` in the config)."""
    if view == 0 or not config.degrade.active:
        return []
    return [config.degrade.draw(config.seed, view, sample_key(s)) for s in samples]


def summarize(draws: list[Degradation]) -> str:
    """How many clips each kind of step touches, e.g. 'encode 812, rescale 497 of 1000'."""
    kinds = Counter(type(step).__name__.lower() for steps in draws for step in steps)
    return ", ".join(f"{k} {c}" for k, c in sorted(kinds.items())) + f" of {len(draws)} clips"


def teacher_samples(train: list[Sample], holdout: float, seed: int) -> list[Sample]:
    """The training samples the teachers fit: all, less a `holdout` share dealt by group."""
    if holdout <= 0:
        return train
    dealt = split_by_group(train, (1 - holdout, holdout, 0), seed, keep_given=False)
    return [s for s, d in zip(train, dealt, strict=True) if d.split == "train"]


def data_hash(samples: list[Sample]) -> str:
    """sha256 over every sample's split, label, group and file content."""
    digest = hashlib.sha256()
    for s in sorted(samples, key=lambda s: (str(s.split), s.group, Path(s.path).name)):
        content = hashlib.sha256(Path(s.path).read_bytes()).hexdigest()
        digest.update(f"{s.split}|{s.label}|{s.group}|{content}\n".encode())
    return digest.hexdigest()
