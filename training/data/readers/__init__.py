"""Dataset readers, one per on-disk layout, each registered in ``LAYOUTS`` with its probe,
and ``load_dataset`` which picks one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from training.data.readers.celebdf import read_celebdf
from training.data.readers.dfdc import read_dfdc
from training.data.readers.faceforensics import read_faceforensics
from training.data.readers.folder import read_folder, read_media
from training.data.readers.layouts import LAYOUTS, Layout, probed_layouts
from training.data.readers.manifest import ManifestError, read_manifest
from training.data.sample import DatasetError, Sample

MANIFEST_NAMES = ("manifest.csv", "manifest.jsonl")

__all__ = ["LAYOUTS", "Layout", "ManifestError", "detect_layout", "load_dataset", "read_celebdf",
           "read_dfdc", "read_faceforensics", "read_folder", "read_manifest", "read_media"]


def detect_layout(path: str | Path) -> tuple[str, Path]:
    """(layout name, the path its reader takes) for a file or dataset root."""
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() in (".csv", ".jsonl", ".ndjson"):
            return "manifest", path
        raise DatasetError(f"{path}: a file must be a .csv or .jsonl manifest")
    if not path.is_dir():
        raise DatasetError(f"{path}: no such file or directory")
    for name in MANIFEST_NAMES:
        if (path / name).is_file():
            return "manifest", path / name
    for name, layout in probed_layouts():
        if layout.probe is not None and layout.probe(path):
            return name, path
    entries = sorted(p.name for p in path.iterdir())[:10]
    raise DatasetError(
        f"{path}: layout not recognised (expected {' or '.join(MANIFEST_NAMES)}, "
        "original_sequences/ + manipulated_sequences/ (FF++), Celeb-real/ + "
        "Celeb-synthesis/ (Celeb-DF), metadata.json or dfdc_train_part_*/ (DFDC), or "
        f"real/ + fake/); found {entries}"
    )


def load_dataset(path: str | Path, layout: str = "auto", **options: Any) -> list[Sample]:
    """Read a dataset; ``layout`` is "auto" or one of ``LAYOUTS``; options go to the reader."""
    if layout == "auto":
        layout, path = detect_layout(path)
    elif layout not in LAYOUTS:
        raise DatasetError(f"unknown layout {layout!r}; choices: auto, {', '.join(LAYOUTS.names())}")
    elif layout == "manifest" and Path(path).is_dir():
        path = next((Path(path) / n for n in MANIFEST_NAMES if (Path(path) / n).is_file()),
                    Path(path) / MANIFEST_NAMES[0])
    return LAYOUTS.build(layout, path=path, **options)
