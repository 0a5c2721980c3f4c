"""Robustness: the test clips degraded (harder H.264 compression, down-scaling), then scored.

`degrade` writes a degraded copy of a clip with PyAV and caches it on disk, keyed by the
source file (path, size, mtime) and the degradation; `robustness_table` scores the clean
clips and every degraded set with a caller's scorer and reports frame and video AUC.

A degradation decodes every frame, optionally scales it down by `scale` and back up to
the original size (swscale bilinear both ways), and re-encodes the clip with libx264 at
`crf` (one slice per frame, as `training.data.synth.encode`), keeping the frame rate.
Scaling alone re-encodes at CRF 18, which is visually near-lossless.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from training.data.synth.encode import EncodeSettings, encode_h264
from training.scoring.metrics import frame_auc, video_auc

CACHE_VERSION = 1

# (per-clip frame probabilities) of each clip, in the order of the paths given.
Scorer = Callable[[Sequence[Path]], Sequence[np.ndarray]]


@dataclass(frozen=True)
class Degradation:
    """Scale down by `scale` (1.0: no scaling) and back up, then re-encode at `crf`."""

    name: str
    crf: int = 18
    scale: float = 1.0

    def __post_init__(self) -> None:
        if not 0 <= self.crf <= 51:
            raise ValueError(f"{self.name}: crf must be in [0, 51], got {self.crf}")
        if not 0 < self.scale <= 1:
            raise ValueError(f"{self.name}: scale must be in (0, 1], got {self.scale}")


DEFAULT_DEGRADATIONS = (
    Degradation("crf35", crf=35),
    Degradation("crf45", crf=45),
    Degradation("scale0.5", scale=0.5),
)


def degrade(path: str | Path, degradation: Degradation, cache_dir: str | Path) -> Path:
    """The degraded copy of the clip at `path`, made once and cached under `cache_dir`."""
    path = Path(path)
    out = Path(cache_dir) / degradation.name / f"{path.stem}-{_key(path, degradation)}.mp4"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = round(float(stream.average_rate or 25))
        stream.thread_type = "AUTO"
        # yuv420p needs even sizes: an odd width or height loses its last column or row.
        width, height = stream.codec_context.width // 2 * 2, stream.codec_context.height // 2 * 2
        frames = _rescaled(container, stream, width, height, degradation.scale)
        try:
            encode_h264(tmp, frames, EncodeSettings(fps=fps, crf=degradation.crf))
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
    degradations: Sequence[Degradation] = DEFAULT_DEGRADATIONS,
) -> dict[str, dict[str, float]]:
    """{"clean" and each degradation: {"auc": frame AUC, "video_auc": mean-p AUC}}, every
    frame carrying its clip's label."""
    clean = [Path(p) for p in paths]
    if len(clean) != len(labels):
        raise ValueError(f"{len(clean)} paths but {len(labels)} labels")
    table = {"clean": _scored(clean, labels, score)}
    for d in degradations:
        table[d.name] = _scored([degrade(p, d, cache_dir) for p in clean], labels, score)
    return table


def _scored(paths: list[Path], labels: Sequence[int], score: Scorer) -> dict[str, float]:
    probs = list(score(paths))
    if len(probs) != len(paths):
        raise ValueError(f"scorer returned {len(probs)} results for {len(paths)} clips")
    frame_labels = np.concatenate([np.full(len(p), y) for p, y in zip(probs, labels, strict=True)])
    groups = np.concatenate([np.full(len(p), i) for i, p in enumerate(probs)])
    p = np.concatenate(probs)
    return {"auc": frame_auc(frame_labels, p), "video_auc": video_auc(frame_labels, p, groups)}


def _rescaled(container: av.container.InputContainer, stream: av.VideoStream, width: int, height: int,
              scale: float) -> Iterator[np.ndarray]:
    """Decoded RGB frames, scaled by `scale` (to even sizes) and back to width x height."""
    small_w, small_h = (max(2, round(v * scale / 2) * 2) for v in (width, height))
    for frame in container.decode(stream):
        if scale < 1:
            frame = frame.reformat(small_w, small_h, interpolation="BILINEAR")
        yield frame.reformat(width, height, format="rgb24", interpolation="BILINEAR").to_ndarray()


def _key(path: Path, degradation: Degradation) -> str:
    stat = path.stat()
    text = f"{CACHE_VERSION}|{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{degradation!r}"
    return hashlib.sha1(text.encode()).hexdigest()[:12]
