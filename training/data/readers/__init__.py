"""Dataset readers, one per on-disk layout, and ``load_dataset`` which picks one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from training.data.readers.celebdf import looks_like_celebdf, read_celebdf
from training.data.readers.dfdc import looks_like_dfdc, read_dfdc
from training.data.readers.faceforensics import looks_like_faceforensics, read_faceforensics
from training.data.readers.folder import looks_like_folder, read_folder, read_media
from training.data.readers.manifest import ManifestError, read_manifest
from training.data.sample import DatasetError, Sample

READERS: dict[str, Callable[..., list[Sample]]] = {
    "manifest": read_manifest,
    "ffpp": read_faceforensics,
    "celebdf": read_celebdf,
    "dfdc": read_dfdc,
    "folder": read_folder,
    "media": read_media,  # unlabelled clips (data.unlabelled); never auto-detected
}
MANIFEST_NAMES = ("manifest.csv", "manifest.jsonl")

__all__ = ["READERS", "ManifestError", "detect_layout", "load_dataset", "read_celebdf",
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
    probes = (("ffpp", looks_like_faceforensics), ("celebdf", looks_like_celebdf),
              ("dfdc", looks_like_dfdc), ("folder", looks_like_folder))
    for layout, probe in probes:
        if probe(path):
            return layout, path
    entries = sorted(p.name for p in path.iterdir())[:10]
    raise DatasetError(
        f"{path}: layout not recognised (expected {' or '.join(MANIFEST_NAMES)}, "
        "original_sequences/ + manipulated_sequences/ (FF++), Celeb-real/ + "
        "Celeb-synthesis/ (Celeb-DF), metadata.json or dfdc_train_part_*/ (DFDC), or "
        f"real/ + fake/); found {entries}"
    )


def load_dataset(path: str | Path, layout: str = "auto", **options: Any) -> list[Sample]:
    """Read a dataset; ``layout`` is "auto" or one of ``READERS``; options go to the reader."""
    if layout == "auto":
        layout, path = detect_layout(path)
    elif layout not in READERS:
        raise DatasetError(f"unknown layout {layout!r}; choices: auto, {', '.join(READERS)}")
    elif layout == "manifest" and Path(path).is_dir():
        path = next((Path(path) / n for n in MANIFEST_NAMES if (Path(path) / n).is_file()),
                    Path(path) / MANIFEST_NAMES[0])
    return READERS[layout](path, **options)
