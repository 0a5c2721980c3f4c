"""The dataset layouts' registry, `LAYOUTS`: each reader module registers its `Layout` (the
reader and, for a layout recognised on disk, its probe) under the layout's name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.data.sample import Sample
from training.registry import Registry


@dataclass(frozen=True)
class Layout:
    """A dataset layout: called as its reader, `read(path, **options)`; `probe(root)` tells
    whether a folder has this layout (None: the layout is read only when named). Probes run
    by ascending `rank`: the most specific layouts first."""

    read: Callable[..., list[Sample]]
    probe: Callable[[Path], bool] | None = None
    rank: int = 0

    def __call__(self, path: str | Path, **options: Any) -> list[Sample]:
        return self.read(path, **options)


LAYOUTS: Registry[list[Sample]] = Registry("dataset layout", modules=("training.data.readers",))


def probed_layouts() -> list[tuple[str, Layout]]:
    """(name, layout) of every layout with a probe, in the order the probes run."""
    found = [(name, LAYOUTS.get(name)) for name in LAYOUTS.names()]
    probed = [(name, entry) for name, entry in found if isinstance(entry, Layout) and entry.probe]
    return sorted(probed, key=lambda item: item[1].rank)
