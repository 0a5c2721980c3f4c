"""FaceForensics++ (Rössler et al., ICCV 2019) as downloaded by its script.

Layout::

    root/original_sequences/youtube/<raw|c23|c40>/videos/000.mp4
    root/manipulated_sequences/<Method>/<raw|c23|c40>/videos/000_003.mp4
    root/splits/{train,val,test}.json          (optional: the official pair lists)

Grouping rule: a manipulated video ``T_S.mp4`` puts source identity S's face into target
video T, so it shows both. Ids are joined with a union-find: every ``T_S`` links T and S,
and every video whose ids fall in one connected component gets the group
``ffpp:<smallest id in the component>``. Hence ``000_003`` shares a group with the
originals ``000`` and ``003`` and the three always land in the same split. (FF++ pairs
are symmetric, ``000_003`` and ``003_000``, so components are usually two ids.)

Splits: when ``splits/<name>.json`` (or ``<name>.json`` in root) exist, each listed pair's
ids take that split; otherwise splits are None.
"""

from __future__ import annotations

import json
from pathlib import Path

from training.data.readers.layouts import LAYOUTS, Layout
from training.data.sample import AUTHENTIC, SPLITS, SYNTHETIC, DatasetError, Sample
from training.data.splits import UnionFind

METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter")
COMPRESSIONS = ("raw", "c23", "c40")


def looks_like_faceforensics(root: Path) -> bool:
    return (root / "original_sequences").is_dir() or (root / "manipulated_sequences").is_dir()


def read_faceforensics(root: str | Path, compression: str = "c23",
                       methods: tuple[str, ...] | None = None) -> list[Sample]:
    """Originals (youtube) and manipulated videos at one compression level."""
    root = Path(root)
    if compression not in COMPRESSIONS:
        raise DatasetError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")
    unknown = [m for m in methods or () if m not in METHODS]
    if unknown:
        raise DatasetError(f"unknown FF++ methods {unknown}; choices: {', '.join(METHODS)}")
    entries: list[tuple[Path, int, str, tuple[str, ...]]] = []
    for path in _videos(root / "original_sequences" / "youtube" / compression):
        entries.append((path, AUTHENTIC, "ffpp:youtube", (path.stem,)))
    for method in methods or METHODS:
        for path in _videos(root / "manipulated_sequences" / method / compression):
            ids = tuple(path.stem.split("_"))
            if len(ids) != 2:
                raise DatasetError(f"{path}: expected <target>_<source>.mp4")
            entries.append((path, SYNTHETIC, f"ffpp:{method}", ids))
    if not entries:
        found = sorted({p.parent.name for p in root.glob("*_sequences/*/*/videos")})
        raise DatasetError(f"{root}: no FF++ videos at compression {compression!r}; "
                           f"compressions present: {found or 'none'}")
    components = UnionFind()
    for _, _, _, ids in entries:
        components.union(*ids)
    id_split = _official_splits(root)
    samples = [
        Sample(path.absolute(), label, id_split.get(ids[0]), f"ffpp:{components.find(ids[0])}",
               source)
        for path, label, source, ids in entries
    ]
    return sorted(samples, key=lambda s: s.path)


def _videos(folder: Path) -> list[Path]:
    videos = folder / "videos"
    return sorted(videos.glob("*.mp4")) if videos.is_dir() else []


def _official_splits(root: Path) -> dict[str, str]:
    """id -> split from the official ``[[target, source], ...]`` lists, when present."""
    id_split: dict[str, str] = {}
    for split in SPLITS:
        for candidate in (root / "splits" / f"{split}.json", root / f"{split}.json"):
            if candidate.is_file():
                try:
                    pairs = json.loads(candidate.read_text())
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{candidate}: invalid JSON: {exc.msg}") from None
                for pair in pairs:
                    for vid in pair:
                        id_split[str(vid)] = split
                break
    return id_split


LAYOUTS.register("ffpp")(Layout(read_faceforensics, looks_like_faceforensics, rank=0))
