"""Celeb-DF v2 (Li et al., CVPR 2020).

Layout::

    root/Celeb-real/id<X>_<NNNN>.mp4          authentic, celebrity X
    root/YouTube-real/<NNNNN>.mp4             authentic, no identity given
    root/Celeb-synthesis/id<X>_id<Y>_<NNNN>.mp4  synthetic: Y's face in X's video NNNN
    root/List_of_testing_videos.txt           lines ``<label> <relative path>``,
                                              label 1 = REAL, 0 = FAKE (inverse of ours)

Grouping rule: by identity of the video's person, the target X (``celebdf:id<X>``), so a
fake shares its group with the original it was made from. Source faces are not joined
(every identity is swapped with many others, a union would make one group).
YouTube-real videos have no identity and are each their own group (``celebdf:yt<N>``).

protocol="official" (default): listed videos are "test", all others "train", as in the
paper; identities then cross train/test, as they do in the official protocol.
protocol="identity": the list is ignored, splits are None, for ``split_by_group`` to
assign leak-free by identity.
"""

from __future__ import annotations

import re
from pathlib import Path

from training.data.readers.layouts import LAYOUTS, Layout
from training.data.sample import AUTHENTIC, SYNTHETIC, DatasetError, Sample

FOLDERS = {"Celeb-real": AUTHENTIC, "YouTube-real": AUTHENTIC, "Celeb-synthesis": SYNTHETIC}
TEST_LIST = "List_of_testing_videos.txt"
PROTOCOLS = ("official", "identity")
_CELEB = re.compile(r"^id(\d+)_(?:id\d+_)?\d+$")


def looks_like_celebdf(root: Path) -> bool:
    return any((root / name).is_dir() for name in FOLDERS) or (root / TEST_LIST).is_file()


def read_celebdf(root: str | Path, protocol: str = "official") -> list[Sample]:
    """Every video of the three folders, grouped by identity."""
    root = Path(root)
    if protocol not in PROTOCOLS:
        raise DatasetError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    videos: dict[str, tuple[Path, int, str]] = {}
    for folder, label in FOLDERS.items():
        for path in sorted((root / folder).glob("*.mp4")):
            videos[f"{folder}/{path.name}"] = (path, label, _group(folder, path))
    if not videos:
        raise DatasetError(f"{root}: no videos in {', '.join(FOLDERS)}")
    test = _read_test_list(root, videos) if protocol == "official" else set()
    default = "train" if protocol == "official" and (root / TEST_LIST).is_file() else None
    samples = [
        Sample(path.absolute(), label, "test" if rel in test else default, group,
               f"celebdf:{rel.split('/')[0]}")
        for rel, (path, label, group) in videos.items()
    ]
    return sorted(samples, key=lambda s: s.path)


def _group(folder: str, path: Path) -> str:
    if folder == "YouTube-real":
        return f"celebdf:yt{path.stem}"
    match = _CELEB.match(path.stem)
    if not match:
        raise DatasetError(f"{path}: expected id<X>_<N>.mp4 or id<X>_id<Y>_<N>.mp4")
    return f"celebdf:id{int(match.group(1))}"


def _read_test_list(root: Path, videos: dict[str, tuple[Path, int, str]]) -> set[str]:
    listing = root / TEST_LIST
    if not listing.is_file():
        return set()
    test: set[str] = set()
    for line_no, line in enumerate(listing.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in ("0", "1"):
            raise DatasetError(f"{listing}: line {line_no}: expected '<0|1> <path>', "
                               f"got {line!r}")
        rel = parts[1].replace("\\", "/")
        if rel not in videos:
            raise DatasetError(f"{listing}: line {line_no}: {rel} is not among the videos")
        # In this file 1 means real: our authentic label (0) is the flipped value.
        if videos[rel][1] != 1 - int(parts[0]):
            raise DatasetError(f"{listing}: line {line_no}: label {parts[0]} (1 = real) "
                               f"contradicts folder {rel.split('/')[0]}")
        test.add(rel)
    return test


LAYOUTS.register("celebdf")(Layout(read_celebdf, looks_like_celebdf, rank=1))
