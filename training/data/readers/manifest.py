"""CSV and JSONL manifests: one row per video or image.

Columns (CSV header / JSON keys): ``path`` (relative to the manifest's folder, or
absolute), ``label`` (0/1 or real/fake/authentic/synthetic), optional ``split``
(train/val/test or empty), optional ``group`` and optional ``source``; other columns are
ignored. Without a group, a row is grouped like the folder layout does: a video or a
top-level image by its file stem, an image inside a subfolder by that subfolder.
Bad rows raise ``ManifestError`` naming the file, the line and the column.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from pathlib import Path

from training.data.readers.layouts import LAYOUTS, Layout
from training.data.sample import DatasetError, Sample, default_group, parse_label, parse_split

REQUIRED = ("path", "label")


class ManifestError(DatasetError):
    """A manifest row (or header) that cannot be read; names the line and column."""

    def __init__(self, manifest: Path, line: int, column: str | None, message: str) -> None:
        where = f"{manifest}: line {line}" + (f", column '{column}'" if column else "")
        super().__init__(f"{where}: {message}")
        self.manifest, self.line, self.column = manifest, line, column


def read_manifest(path: str | Path, check_exists: bool = True) -> list[Sample]:
    """Read a ``.csv`` or ``.jsonl`` manifest (chosen by extension)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = _csv_rows(path)
    elif suffix in (".jsonl", ".ndjson"):
        rows = _jsonl_rows(path)
    else:
        raise DatasetError(f"{path}: manifest must end in .csv or .jsonl, got {suffix!r}")
    samples = [_row_to_sample(path, line, row, check_exists) for line, row in rows]
    if not samples:
        raise DatasetError(f"{path}: manifest has no rows")
    return samples


def _csv_rows(path: Path) -> Iterator[tuple[int, Mapping[str, object]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = [name.strip() for name in reader.fieldnames or []]
        missing = [col for col in REQUIRED if col not in header]
        if missing:
            raise ManifestError(path, 1, missing[0],
                                f"header lacks {missing}; found columns {header}")
        reader.fieldnames = header
        for row in reader:
            if None in row:
                raise ManifestError(path, reader.line_num, None,
                                    f"{len(header) + len(row[None])} fields, header has "
                                    f"{len(header)}")
            if all(not (v or "").strip() for v in row.values()):
                continue
            yield reader.line_num, row


def _jsonl_rows(path: Path) -> Iterator[tuple[int, Mapping[str, object]]]:
    with path.open(encoding="utf-8") as fh:
        for line_no, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ManifestError(path, line_no, None, f"invalid JSON: {exc.msg}") from None
            if not isinstance(row, dict):
                raise ManifestError(path, line_no, None,
                                    f"expected a JSON object, got {type(row).__name__}")
            for col in REQUIRED:
                if col not in row:
                    raise ManifestError(path, line_no, col, "missing")
            yield line_no, row


def _row_to_sample(manifest: Path, line: int, row: Mapping[str, object],
                   check_exists: bool) -> Sample:
    raw_path = str(row.get("path") or "").strip()
    if not raw_path:
        raise ManifestError(manifest, line, "path", "empty")
    media = manifest.parent.absolute() / raw_path
    if check_exists and not media.is_file():
        raise ManifestError(manifest, line, "path", f"file not found: {media}")
    values: dict[str, object] = {}
    for column, parse in (("label", parse_label), ("split", parse_split)):
        try:
            values[column] = parse(row.get(column))
        except ValueError as exc:
            raise ManifestError(manifest, line, column, str(exc)) from None
    group = str(row.get("group") or "").strip() or default_group(Path(raw_path))
    source = str(row.get("source") or "").strip() or "manifest"
    return Sample(media, values["label"], values["split"], group, source)  # type: ignore[arg-type]


LAYOUTS.register("manifest")(Layout(read_manifest))  # detected by file name, not probed
