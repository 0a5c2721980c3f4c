"""What a bulk run screens: a folder, a CSV/JSONL manifest, or paths and URLs, each
expanded into videos, and how a video's bytes are opened where it is decoded.

A video's id is where it is: an absolute local path (a `file://` URL is read as one), or
the URL itself (`s3://`, `gs://`, `hdfs://`: pyarrow's filesystems; any other scheme
through fsspec). A manifest has the training readers' columns (`path` relative to the
manifest's folder, or absolute, or a URL; `label`, `split`, `group`, `source`), of which
only `path` is needed here; the others travel to the per-video table.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse

import pyarrow.csv
import pyarrow.fs
import pyarrow.json

from app.errors import EmptyUpload, MissingFile

MANIFEST_SUFFIXES = (".csv", ".jsonl", ".ndjson")
MANIFEST_COLUMNS = ("label", "split", "group", "source")
_ARROW_SCHEMES = frozenset({"s3", "gs", "gcs", "hdfs", "viewfs", "abfs", "abfss"})


class SourceError(ValueError):
    """A SOURCE that names nothing to screen (a missing folder, a manifest without `path`)."""


@dataclass(frozen=True)
class VideoRef:
    """One video to screen, and its manifest columns (empty for folders and paths)."""

    video_id: str
    columns: dict[str, str | None] = field(default_factory=dict)


def video_id(location: str) -> str:
    """The id of a path or URL: local ones as absolute paths, others as given."""
    parsed = urlparse(location)
    if parsed.scheme == "file":
        return os.path.abspath(unquote(parsed.path))
    if len(parsed.scheme) <= 1:  # a bare path (or a Windows drive letter)
        return os.path.abspath(location)
    return location


def expand(sources: list[str]) -> list[VideoRef]:
    """Every video the SOURCE arguments name, once each, in their order."""
    seen: dict[str, VideoRef] = {}
    for source in sources:
        for ref in _expand_one(source):
            seen.setdefault(ref.video_id, ref)
    return list(seen.values())


def _expand_one(source: str) -> Iterator[VideoRef]:
    location = video_id(source)
    if location.lower().endswith(MANIFEST_SUFFIXES):
        yield from read_manifest(location)
        return
    filesystem, path = _filesystem(location)
    if filesystem.get_file_info(path).type != pyarrow.fs.FileType.Directory:
        yield VideoRef(location)  # a missing file is a video with an error row (missing_file)
        return
    entries = filesystem.get_file_info(pyarrow.fs.FileSelector(path, recursive=True))
    files = sorted(e.path for e in entries if e.type == pyarrow.fs.FileType.File
                   and not any(part.startswith(".") for part in Path(e.path).relative_to(path).parts))
    if not files:
        raise SourceError(f"{source}: the folder has no file")
    prefix = f"{urlparse(location).scheme}://" if _is_remote(location) else ""
    yield from (VideoRef(prefix + f) for f in files)


def read_manifest(location: str) -> list[VideoRef]:
    """The videos of a CSV or JSONL manifest (read with pyarrow, from anywhere)."""
    with open_video(location) as stream:
        data = stream.read()
    reader = pyarrow.csv.read_csv if location.lower().endswith(".csv") else pyarrow.json.read_json
    try:
        table = reader(pyarrow.BufferReader(data)) if data.strip() else pyarrow.table({})
    except pyarrow.ArrowInvalid as exc:
        raise SourceError(f"{location}: not a readable manifest: {exc}") from exc
    if "path" not in table.column_names:
        raise SourceError(f"{location}: the manifest has no `path` column (columns {table.column_names})")
    base = location.rsplit("/", 1)[0]
    refs = []
    for row in table.to_pylist():
        path = str(row.get("path") or "").strip()
        if not path:
            continue
        absolute = "://" in path or path.startswith("/")
        columns = {c: str(row[c]).strip() or None if row.get(c) is not None else None
                   for c in MANIFEST_COLUMNS if c in row}
        refs.append(VideoRef(video_id(path if absolute else f"{base}/{path}"), columns))
    if not refs:
        raise SourceError(f"{location}: the manifest has no rows")
    return refs


@contextmanager
def open_video(location: str) -> Iterator[BinaryIO]:
    """The bytes at `location` (a video id), seekable; a file that cannot be opened is
    `MissingFile`, the service's code for an upload without its file, and an empty one
    `EmptyUpload`, as an empty upload is."""
    try:
        stream = _open(location)
        empty = not stream.read(1)
        stream.seek(0)
    except (OSError, ValueError) as exc:
        raise MissingFile(f"{location}: cannot be opened: {exc}") from exc
    with stream:
        if empty:
            raise EmptyUpload(f"{location} is empty")
        yield stream


def _open(location: str) -> BinaryIO:
    if not _is_remote(location):
        return open(location, "rb")  # a descriptor: decoder workers read the file directly
    if urlparse(location).scheme in _ARROW_SCHEMES:
        filesystem, path = _filesystem(location)
        return io.BufferedReader(filesystem.open_input_file(path))  # type: ignore[arg-type]
    import fsspec

    return fsspec.open(location, "rb").open()


def _is_remote(location: str) -> bool:
    return len(urlparse(location).scheme) > 1


def _filesystem(location: str) -> tuple[pyarrow.fs.FileSystem, str]:
    if not _is_remote(location):
        return pyarrow.fs.LocalFileSystem(), location
    if urlparse(location).scheme not in _ARROW_SCHEMES:
        import fsspec
        from pyarrow.fs import FSSpecHandler, PyFileSystem

        filesystem, path = fsspec.core.url_to_fs(location)
        return PyFileSystem(FSSpecHandler(filesystem)), path
    return pyarrow.fs.FileSystem.from_uri(location)
