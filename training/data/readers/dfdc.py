"""DFDC (Dolhansky et al., 2020) training parts.

Layout: ``root/dfdc_train_part_<N>/metadata.json`` (or ``root/metadata.json`` for a
single part), each mapping ``"<file>.mp4" -> {"label": "REAL"|"FAKE", "original":
"<file>.mp4"|null, "split": "train"}``.

Grouping rule: a fake is grouped with the real video it was made from (its
``original``), a real video by itself: ``dfdc:<original stem>``. Videos listed but absent
on disk are skipped with a warning. All public training parts say split "train"; pass
``keep_split=False`` (or ``split_by_group(..., keep_given=False)``) to carve val/test.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from training.data.readers.layouts import LAYOUTS, Layout
from training.data.sample import DatasetError, Sample, parse_label, parse_split

METADATA = "metadata.json"


def looks_like_dfdc(root: Path) -> bool:
    return (root / METADATA).is_file() or any(root.glob(f"dfdc_train_part_*/{METADATA}"))


def read_dfdc(root: str | Path, keep_split: bool = True) -> list[Sample]:
    """Every video listed in the metadata of every part under ``root``."""
    root = Path(root)
    parts = sorted(p.parent for p in root.glob(f"dfdc_train_part_*/{METADATA}"))
    if (root / METADATA).is_file():
        parts.insert(0, root)
    if not parts:
        raise DatasetError(f"{root}: no {METADATA} here or in dfdc_train_part_*/")
    samples: list[Sample] = []
    missing = 0
    for part in parts:
        for name, entry in _load(part / METADATA).items():
            path = part / name
            if not path.is_file():
                missing += 1
                continue
            samples.append(_sample(part / METADATA, path, name, entry, keep_split))
    if missing:
        warnings.warn(f"{root}: {missing} video(s) listed in metadata are not on disk",
                      stacklevel=2)
    if not samples:
        raise DatasetError(f"{root}: none of the videos listed in metadata are on disk")
    return sorted(samples, key=lambda s: s.path)


def _load(metadata: Path) -> dict[str, dict]:
    try:
        data = json.loads(metadata.read_text())
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{metadata}: invalid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{metadata}: expected an object mapping file -> entry")
    return data


def _sample(metadata: Path, path: Path, name: str, entry: object, keep_split: bool) -> Sample:
    if not isinstance(entry, dict) or "label" not in entry:
        raise DatasetError(f"{metadata}: entry {name!r}: expected an object with 'label'")
    try:
        label = parse_label(entry["label"])
        split = parse_split(entry.get("split")) if keep_split else None
    except ValueError as exc:
        raise DatasetError(f"{metadata}: entry {name!r}: {exc}") from None
    original = entry.get("original") or name
    return Sample(path.absolute(), label, split, f"dfdc:{Path(original).stem}",
                  f"dfdc:{metadata.parent.name}")


LAYOUTS.register("dfdc")(Layout(read_dfdc, looks_like_dfdc, rank=2))
