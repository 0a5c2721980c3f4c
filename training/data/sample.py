"""The one record every dataset reader returns, and the label vocabulary they share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm"})
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp"})
MEDIA_EXTENSIONS = VIDEO_EXTENSIONS | IMAGE_EXTENSIONS

AUTHENTIC = 0
SYNTHETIC = 1
UNLABELLED = -1  # a clip only the students fit, labelled by the ensemble alone
CLASS_NAMES = ("authentic", "synthetic")
SPLITS = ("train", "val", "test")

_LABEL_WORDS = {
    "0": AUTHENTIC, "real": AUTHENTIC, "authentic": AUTHENTIC,
    "1": SYNTHETIC, "fake": SYNTHETIC, "synthetic": SYNTHETIC,
}
_SPLIT_WORDS = {
    "train": "train", "training": "train",
    "val": "val", "valid": "val", "validation": "val", "dev": "val",
    "test": "test", "testing": "test",
}


class DatasetError(ValueError):
    """A dataset on disk does not match the layout it was read as."""


@dataclass(frozen=True)
class Sample:
    """One video or image.

    label: 0 authentic / 1 synthetic, or -1 ``UNLABELLED`` (layout ``media``, and clips
    the pipeline must not read a label of). split: "train"/"val"/"test", or None when the
    dataset does not say (``split_by_group`` fills it). group: the source video or
    identity; samples of one group must never be in two splits. source: where the
    sample came from, ``<layout>:<subset>`` (e.g. ``ffpp:Deepfakes``).
    """

    path: Path
    label: int
    split: str | None
    group: str
    source: str

    def __post_init__(self) -> None:
        if self.label not in (AUTHENTIC, SYNTHETIC, UNLABELLED):
            raise ValueError(f"label must be 0, 1 or {UNLABELLED} (unlabelled), got {self.label!r}")
        if self.split is not None and self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS} or None, got {self.split!r}")
        if not self.group:
            raise ValueError(f"group must be a non-empty string ({self.path})")

    @property
    def is_video(self) -> bool:
        return self.path.suffix.lower() in VIDEO_EXTENSIONS


def default_group(rel: Path) -> str:
    """The group of a file known only by its path (relative to its class folder or manifest):
    a video or a loose image is its own group (its stem, so ``real/000.mp4`` and
    ``fake/000.mp4`` pair up); an image inside a subfolder is a frame of that sequence."""
    if rel.suffix.lower() in IMAGE_EXTENSIONS and len(rel.parts) > 1:
        return rel.parent.as_posix()
    return rel.stem


def parse_label(value: object) -> int:
    """0/1 or real/fake/authentic/synthetic (any case) -> 0/1; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"expected 0/1/real/fake/authentic/synthetic, got {value!r}")
    key = str(value).strip().lower()
    if key not in _LABEL_WORDS:
        raise ValueError(f"expected 0/1/real/fake/authentic/synthetic, got {value!r}")
    return _LABEL_WORDS[key]


def parse_split(value: object) -> str | None:
    """train/val/test (and common spellings) -> canonical name; empty/None -> None."""
    if value is None:
        return None
    key = str(value).strip().lower()
    if not key:
        return None
    if key not in _SPLIT_WORDS:
        raise ValueError(f"expected one of {', '.join(SPLITS)} or empty, got {value!r}")
    return _SPLIT_WORDS[key]
