"""A disk cache of sampled frames, so later epochs read .npy files instead of decoding."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from training.data.frames import Size, sample_frames
from training.degrade import Degradation
from training.degrade.spec import describe

if TYPE_CHECKING:
    from training.data.faces import FaceSampler

# Bump when sampling changes what a key means (indices, scaling), to orphan old entries.
CACHE_VERSION = 1

Sampler = Callable[[Path, int, Size | int | None, int | None, Degradation], np.ndarray]


class FrameCache:
    """One ``.npy`` (uint8, N x H x W x 3) per (video path, mtime, size, n, seed), with
    ``faces`` the crop spec and detector too (face crops: N may be below n, even 0), and
    the degradation's steps when the frames are of a degraded view.

    Writes are atomic (a temporary file in the same folder, then ``os.replace``), so
    concurrent loader workers and interrupted runs never leave a torn entry. ``hits`` and
    ``misses`` count lookups; a miss decodes with ``sampler`` (default ``sample_frames``
    with ``faces``).
    """

    def __init__(self, root: str | Path, sampler: Sampler | None = None,
                 faces: FaceSampler | None = None) -> None:
        self.root = Path(root)
        self.faces = faces
        self.sampler = sampler or (lambda path, n, size, seed, degradation: sample_frames(
            path, n, size, seed, faces, degradation))
        self.hits = 0
        self.misses = 0
        self._count = threading.Lock()  # get() may run in several threads at once

    def key(self, path: str | Path, n: int, size: Size | int | None, seed: int | None,
            degradation: Degradation = ()) -> str:
        """The entry's name: a hash of the file's identity and the sampling arguments."""
        path = Path(path).absolute()
        stat = path.stat()
        fields = [CACHE_VERSION, str(path), stat.st_mtime_ns, stat.st_size, n,
                  list(size) if isinstance(size, tuple) else size, seed]
        if self.faces is not None:  # whole-frame keys stay as they were
            fields.append(self.faces.key)
        if degradation:  # and clean ones too
            fields.append(describe(degradation))
        return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:32]

    def entry(self, path: str | Path, n: int, size: Size | int | None,
              seed: int | None, degradation: Degradation = ()) -> Path:
        key = self.key(path, n, size, seed, degradation)
        return self.root / key[:2] / f"{key}.npy"

    def get(self, path: str | Path, n: int, size: Size | int | None,
            seed: int | None = 0, degradation: Degradation = ()) -> np.ndarray:
        """The frames of ``sample_frames(path, n, size, seed, faces, degradation)``, decoded
        (and degraded) at most once."""
        entry = self.entry(path, n, size, seed, degradation)
        if entry.is_file():
            try:
                frames = np.load(entry, allow_pickle=False)
            except (OSError, ValueError, EOFError):
                entry.unlink(missing_ok=True)  # unreadable: decode again below
            else:
                with self._count:
                    self.hits += 1
                return frames
        with self._count:
            self.misses += 1
        frames = np.ascontiguousarray(self.sampler(Path(path), n, size, seed, degradation),
                                      dtype=np.uint8)
        self._write(entry, frames)
        return frames

    def _write(self, entry: Path, frames: np.ndarray) -> None:
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-", suffix=".npy")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, frames, allow_pickle=False)
            os.replace(tmp, entry)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
