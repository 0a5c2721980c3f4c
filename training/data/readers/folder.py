"""Plain folder tree: ``root/real/**`` and ``root/fake/**``.

Optionally one level of splits above the classes: ``root/<train|val|test>/<real|fake>/**``.
Layout ``media`` (`read_media`, never auto-detected) reads every file under a folder as an
unlabelled clip, for ``data.unlabelled``.

Grouping rule: a video is its own group, named by its file stem (so ``real/000.mp4`` and
``fake/000.mp4`` share a group, the usual naming for a fake made from that original).
An image directly inside the class folder is its own group (its stem); an image deeper
down is a frame of a sequence and is grouped by its parent folder, relative to the class
folder (``real/id7/clip2/0001.png`` -> group ``id7/clip2``).
"""

from __future__ import annotations

from pathlib import Path

from training.data.readers.layouts import LAYOUTS, Layout
from training.data.sample import (
    AUTHENTIC,
    MEDIA_EXTENSIONS,
    SPLITS,
    SYNTHETIC,
    UNLABELLED,
    DatasetError,
    Sample,
    default_group,
    parse_split,
)

CLASS_DIRS = {"real": AUTHENTIC, "fake": SYNTHETIC}


def looks_like_folder(root: Path) -> bool:
    """True when ``root`` has real/ or fake/ directly, or under a split folder."""
    if not root.is_dir():
        return False
    if any((root / name).is_dir() for name in CLASS_DIRS):
        return True
    return any((root / split / name).is_dir() for split in SPLITS for name in CLASS_DIRS)


def read_folder(root: str | Path) -> list[Sample]:
    """Every video and image under ``root/{real,fake}`` (or ``root/<split>/{real,fake}``)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a directory")
    bases: list[tuple[Path, str | None]] = [(root, None)]
    bases += [(root / name, parse_split(name)) for name in SPLITS if (root / name).is_dir()]
    samples: list[Sample] = []
    for base, split in bases:
        for class_name, label in CLASS_DIRS.items():
            class_dir = base / class_name
            if class_dir.is_dir():
                samples += _read_class_dir(class_dir, label, split)
    if not samples:
        raise DatasetError(
            f"{root}: no media found under real/ or fake/ (or <split>/real, <split>/fake); "
            f"extensions read: {', '.join(sorted(MEDIA_EXTENSIONS))}"
        )
    return sorted(samples, key=lambda s: s.path)


def _read_class_dir(class_dir: Path, label: int, split: str | None) -> list[Sample]:
    out = []
    for path in sorted(class_dir.rglob("*")):
        suffix = path.suffix.lower()
        if suffix not in MEDIA_EXTENSIONS or not path.is_file():
            continue
        group = default_group(path.relative_to(class_dir))
        out.append(Sample(path.absolute(), label, split, group, f"folder:{class_dir.name}"))
    return out


def read_media(root: str | Path) -> list[Sample]:
    """Every video and image under ``root``, unlabelled, grouped as in a class folder."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a directory")
    samples = [Sample(path.absolute(), UNLABELLED, None, default_group(path.relative_to(root)), "media")
               for path in sorted(root.rglob("*"))
               if path.suffix.lower() in MEDIA_EXTENSIONS and path.is_file()]
    if not samples:
        raise DatasetError(f"{root}: no media found; extensions read: "
                           f"{', '.join(sorted(MEDIA_EXTENSIONS))}")
    return samples


LAYOUTS.register("folder")(Layout(read_folder, looks_like_folder, rank=3))  # the loosest: last
LAYOUTS.register("media")(Layout(read_media))  # unlabelled clips (data.unlabelled); never detected
