"""Robustness: the test clips degraded (harder H.264 compression, down-scaling), then scored.

`degrade` writes a degraded copy of a clip (`training.degrade.write_degraded`) and caches
it on disk, keyed by the source file (path, size, mtime) and the condition;
`robustness_table` scores the clean clips and every degraded set with a caller's scorer
and reports frame and video AUC.

A condition optionally scales every frame down by `scale` and back up to the original
size (bilinear both ways), then re-encodes the clip with libx264 at `crf` (one slice per
frame, as `training.degrade.encode`), keeping the frame rate. Scaling alone re-encodes
at CRF 18, which is visually near-lossless. The CRF conditions are the points of the
report's AUC-against-CRF plot.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.degrade import Degradation, Encode, Rescale, write_degraded
from training.scoring.metrics import frame_auc, video_auc

CACHE_VERSION = 1

# (per-clip frame probabilities) of each clip, in the order of the paths given.
Scorer = Callable[[Sequence[Path]], Sequence[np.ndarray]]


@dataclass(frozen=True)
class Condition:
    """Scale down by `scale` (1.0: no scaling) and back up, then re-encode at `crf`."""

    name: str
    crf: int = 18
    scale: float = 1.0

    def __post_init__(self) -> None:
        if not 0 <= self.crf <= 51:
            raise ValueError(f"{self.name}: crf must be in [0, 51], got {self.crf}")
        if not 0 < self.scale <= 1:
            raise ValueError(f"{self.name}: scale must be in (0, 1], got {self.scale}")

    @property
    def steps(self) -> Degradation:
        """The condition as degradation steps."""
        return (*([Rescale(self.scale)] if self.scale < 1 else []), Encode("h264", self.crf))


DEFAULT_CONDITIONS = (
    Condition("crf28", crf=28),
    Condition("crf35", crf=35),
    Condition("crf40", crf=40),
    Condition("crf45", crf=45),
    Condition("scale0.5", scale=0.5),
)


def degrade(path: str | Path, condition: Condition, cache_dir: str | Path) -> Path:
    """The degraded copy of the clip at `path`, made once and cached under `cache_dir`."""
    path = Path(path)
    out = Path(cache_dir) / condition.name / f"{path.stem}-{_key(path, condition)}.mp4"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        write_degraded(path, condition.steps, tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(out)
    return out


def robustness_table(
    paths: Sequence[str | Path],
    labels: Sequence[int],
    score: Scorer,
    cache_dir: str | Path,
    conditions: Sequence[Condition] = DEFAULT_CONDITIONS,
) -> dict[str, dict[str, float]]:
    """{"clean" and each degradation: {"auc": frame AUC, "video_auc": mean-p AUC}}, every
    frame carrying its clip's label."""
    clean = [Path(p) for p in paths]
    if len(clean) != len(labels):
        raise ValueError(f"{len(clean)} paths but {len(labels)} labels")
    table = {"clean": _scored(clean, labels, score)}
    for c in conditions:
        table[c.name] = _scored([degrade(p, c, cache_dir) for p in clean], labels, score)
    return table


def _scored(paths: list[Path], labels: Sequence[int], score: Scorer) -> dict[str, float]:
    probs = list(score(paths))
    if len(probs) != len(paths):
        raise ValueError(f"scorer returned {len(probs)} results for {len(paths)} clips")
    frame_labels = np.concatenate([np.full(len(p), y) for p, y in zip(probs, labels, strict=True)])
    groups = np.concatenate([np.full(len(p), i) for i, p in enumerate(probs)])
    p = np.concatenate(probs)
    return {"auc": frame_auc(frame_labels, p), "video_auc": video_auc(frame_labels, p, groups)}


def _key(path: Path, condition: Condition) -> str:
    stat = path.stat()
    text = f"{CACHE_VERSION}|{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{condition!r}"
    return hashlib.sha1(text.encode()).hexdigest()[:12]
