"""``generate``: plan clips by source, assign splits by source, render, write the manifest."""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from itertools import repeat
from pathlib import Path

import numpy as np
from tqdm import tqdm

from training.data.sample import Sample
from training.data.splits import split_by_group
from training.data.synth.faces import FACE_PHOTOS, MIN_FACE_PX
from training.data.synth.recipes import FACE_FAMILY, FAMILIES, Ranges
from training.data.synth.render import ClipPlan, RenderConfig, render_clip
from training.data.synth.scenes import photo_group, photo_names
from training.degrade.encode import x264_cpu_mask

MANIFEST_COLUMNS = ("path", "label", "split", "group", "source")
GENERATOR_VERSION = 1
# What the bytes depend on besides the arguments: recorded in synth.json.
PROVENANCE_PACKAGES = ("av", "numpy", "scipy", "scikit-image", "pillow", "matplotlib", "onnxruntime")


@dataclass
class SynthSummary:
    out_dir: Path
    manifest: Path
    clips: int
    frames: int
    seconds: float
    by_split: dict[str, Counter] = field(default_factory=dict)  # split -> label counts
    by_source: Counter = field(default_factory=Counter)
    groups: int = 0

    def __str__(self) -> str:
        lines = [f"{self.clips} clips x {self.frames} frames in {self.seconds:.1f} s "
                 f"({self.clips * self.frames / max(self.seconds, 1e-9):.0f} frames/s), "
                 f"{self.groups} source groups -> {self.manifest}"]
        for split, counts in self.by_split.items():
            lines.append(f"  {split:5s} authentic {counts[0]:5d}  synthetic {counts[1]:5d}")
        lines.append("  " + ", ".join(f"{k} {v}" for k, v in sorted(self.by_source.items())))
        return "\n".join(lines)


def plan_clips(n_videos: int, seed: int, families: Sequence[str] = FAMILIES,
               photo_fraction: float = 0.5, clips_per_scene: int = 4,
               face_fraction: float = 0.0) -> list[ClipPlan]:
    """Sources first (photos round-robin, then scenes of ``clips_per_scene`` clips, then
    ``face_fraction`` of the clips as faces: each face photo in turn on a background of its
    own, ``clips_per_scene`` clips each), labels alternating source by source, families
    cycling over the synthetic clips (``FACE_FAMILY`` on faces).

    A face source's group is its identity and background (``face:<photo>+<background>``):
    two identities ship, so splits by identity alone could not hold three splits."""
    rng = np.random.default_rng([seed, 0])
    photos = list(photo_names())
    rng.shuffle(photos)
    n_face = round(n_videos * face_fraction)
    n_rest = n_videos - n_face
    n_photo = min(n_rest, round(n_rest * photo_fraction)) if photos else 0
    by_source: dict[str, list[int]] = {}
    for k in range(n_photo):
        by_source.setdefault(f"photo:{photos[k % len(photos)]}", []).append(k)
    for k in range(n_rest - n_photo):
        by_source.setdefault(f"scene:{k // clips_per_scene:05d}", []).append(n_photo + k)
    for k in range(n_face):
        background = k // clips_per_scene
        photo = FACE_PHOTOS[background % len(FACE_PHOTOS)]
        by_source.setdefault(f"face:{photo}:{background:05d}", []).append(n_rest + k)
    order = rng.permutation(n_videos)  # slot -> file index, so names say nothing
    cycle = list(families)
    plans, fakes, turn = [], 0, int(rng.integers(2))
    for source, slots in by_source.items():
        for slot in slots:
            label, turn = turn, 1 - turn  # alternating: balanced overall and per source
            family = None
            if label and source.startswith("face:"):
                family = FACE_FAMILY
            elif label:
                if fakes % len(cycle) == 0:
                    rng.shuffle(cycle)
                family, fakes = cycle[fakes % len(cycle)], fakes + 1
            # a photo is one identity whatever the seed; a scene is drawn from (seed, number)
            group = photo_group(source[6:]) if source.startswith("photo:") else f"{source}@{seed}"
            if source.startswith("face:"):
                group = "face:{}+{}@{}".format(*source.split(":")[1:], seed)
            plans.append(ClipPlan(int(order[slot]), source, group, label, family))
    return sorted(plans, key=lambda p: p.index)


def generate(out_dir: str | Path, n_videos: int, seed: int = 0, size: tuple[int, int] = (256, 256),
             frames: int = 48, difficulty: float = 0.5,
             fractions: Sequence[float] = (0.7, 0.15, 0.15),
             families: Sequence[str] = FAMILIES, photo_fraction: float = 0.5,
             face_fraction: float = 0.0, workers: int = 1, progress: bool = True) -> SynthSummary:
    """Write ``n_videos`` H.264 clips to ``out_dir/videos/`` and ``out_dir/manifest.csv``.

    ``size`` is (width, height), both even. Half the clips are authentic, half carry one
    of ``families`` (cycled; face clips: the face self-blend); sources (photos, scenes,
    faces on backgrounds: ``face_fraction`` of the clips) are groups and splits are dealt
    by group with ``fractions``. Same arguments, same manifest and same decoded frames.
    """
    width, height = size
    if n_videos < 1 or frames < 1:
        raise ValueError(f"need n_videos >= 1 and frames >= 1, got {n_videos}, {frames}")
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise ValueError(f"size must be even and >= 16 (H.264 4:2:0), got {width}x{height}")
    unknown = [f for f in families if f not in FAMILIES] or ([] if families else ["<none>"])
    if unknown:
        raise ValueError(f"unknown families {unknown}; choices: {', '.join(FAMILIES)}")
    if not 0.0 <= face_fraction <= 1.0:
        raise ValueError(f"face_fraction must be in [0, 1], got {face_fraction}")
    if face_fraction and min(size) < 2 * MIN_FACE_PX:
        raise ValueError(f"face clips need frames of at least {2 * MIN_FACE_PX} px a side "
                         f"(faces are at least {MIN_FACE_PX} px wide), got {width}x{height}")
    Ranges.for_difficulty(difficulty)  # validates before anything is written
    out_dir = Path(out_dir)
    (out_dir / "videos").mkdir(parents=True, exist_ok=True)
    cfg = RenderConfig(seed, width, height, frames, float(difficulty))
    plans = plan_clips(n_videos, seed, families, photo_fraction, face_fraction=face_fraction)
    samples = split_by_group(
        [Sample(out_dir / p.relpath, p.label, None, p.group, _source(p)) for p in plans],
        fractions, seed)
    start = time.perf_counter()
    records = _render_all(plans, cfg, out_dir, workers, progress)
    seconds = time.perf_counter() - start
    _write_outputs(out_dir, plans, samples, records, cfg)
    summary = SynthSummary(out_dir, out_dir / "manifest.csv", n_videos, frames, seconds,
                           groups=len({p.group for p in plans}))
    for sample in samples:
        summary.by_split.setdefault(sample.split or "none", Counter())[sample.label] += 1
        summary.by_source[sample.source] += 1
    summary.by_split = dict(sorted(summary.by_split.items(),
                                   key=lambda kv: ("train", "val", "test").index(kv[0])))
    return summary


def _source(plan: ClipPlan) -> str:
    return f"synth:{plan.family}" if plan.family else "synth:authentic"


def _render_all(plans: list[ClipPlan], cfg: RenderConfig, out_dir: Path, workers: int,
                progress: bool) -> list[dict]:
    """Render every clip; a source's clips run back to back (its scene is built once).

    Each clip is seeded by its own index, so order and workers never change the output.
    """
    order = sorted(plans, key=lambda p: (p.source, p.index))
    records: dict[int, dict] = {}
    with tqdm(total=len(plans), desc="synth clips", unit="clip", disable=not progress) as bar:
        if workers <= 1:
            results = (render_clip(plan, cfg, out_dir) for plan in order)
            for plan, record in zip(order, results, strict=True):
                records[plan.index] = record
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                results = pool.map(render_clip, order, repeat(cfg), repeat(out_dir),
                                   chunksize=4)
                for plan, record in zip(order, results, strict=True):
                    records[plan.index] = record
                    bar.update()
    return [records[plan.index] for plan in plans]


def _write_outputs(out_dir: Path, plans: list[ClipPlan], samples: list[Sample],
                   records: list[dict], cfg: RenderConfig) -> None:
    """manifest.csv (the dataset), clips.jsonl (every random draw), synth.json (config)."""
    rows = [{"path": p.relpath, "label": s.label, "split": s.split, "group": s.group,
             "source": s.source} for p, s in zip(plans, samples, strict=True)]
    _atomic_write(out_dir / "manifest.csv", _csv_text(rows))
    _atomic_write(out_dir / "clips.jsonl", "".join(
        json.dumps({**r, "split": s.split}, sort_keys=True) + "\n"
        for r, s in zip(records, samples, strict=True)))
    config = {"generator_version": GENERATOR_VERSION, "seed": cfg.seed, "width": cfg.width,
              "height": cfg.height, "frames": cfg.frames, "difficulty": cfg.difficulty,
              "clips": len(plans), "photos": list(photo_names()), "face_photos": list(FACE_PHOTOS),
              "x264_cpu_mask": x264_cpu_mask(),
              "packages": {name: _version(name) for name in PROVENANCE_PACKAGES}}
    _atomic_write(out_dir / "synth.json", json.dumps(config, indent=2) + "\n")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _csv_text(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
