"""Seeded mutations of valid media files, for the hostile-input fuzzer.

A file is mutated as bytes (bit flips, truncation, chunks spliced from another file,
interesting values over header bytes) and as a tree of length-prefixed elements (ISO BMFF
boxes, EBML elements, RIFF chunks; MPEG-TS packets have no size field): hostile size fields,
duplicated, dropped and reordered siblings. Every choice comes from the given generator, so
a case is reproduced by its seed.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Encoding = Literal["be", "le", "ebml", "none"]

# ISO BMFF boxes that hold boxes.
_BOX_PARENTS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf", b"udta", b"mvex",
                b"moof", b"traf"}
# EBML master elements: EBML header, Segment, SeekHead, Seek, Info, Tracks, TrackEntry, Video,
# Cluster, BlockGroup, Cues, CuePoint, Tags, Tag.
_EBML_PARENTS = {0x1A45DFA3, 0x18538067, 0x114D9B74, 0x4DBB, 0x1549A966, 0x1654AE6B, 0xAE, 0xE0,
                 0x1F43B675, 0xA0, 0x1C53BB6B, 0xBB, 0x1254C367, 0x7373}
_TS_PACKET = 188


@dataclass(frozen=True)
class Element:
    """One element: bytes [start, end), its size field at [size_at, size_at + size_len)
    written in `encoding`; `parent` is the index of the element holding it (-1: top level)."""

    start: int
    end: int
    size_at: int
    size_len: int
    encoding: Encoding
    parent: int


def _boxes(data: bytes, start: int, end: int, parent: int, out: list[Element]) -> None:
    at = start
    while at + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, at)
        header, size_len = 8, 4
        if size == 1 and at + 16 <= end:
            size, header, size_len = struct.unpack_from(">Q", data, at + 8)[0], 16, 8
        elif size == 0:
            size = end - at
        if size < header or at + size > end:
            return
        out.append(Element(at, at + size, at if size_len == 4 else at + 8, size_len, "be", parent))
        if kind in _BOX_PARENTS:
            _boxes(data, at + header, at + size, len(out) - 1, out)
        at += size


def _vint(data: bytes, at: int, keep_marker: bool) -> tuple[int, int] | None:
    """An EBML variable-length integer at `at`: (value, length), or None when malformed."""
    if at >= len(data) or data[at] == 0:
        return None
    length = 9 - data[at].bit_length()
    if at + length > len(data):
        return None
    value = int.from_bytes(data[at : at + length], "big")
    return (value if keep_marker else value & ((1 << (7 * length)) - 1)), length


def _ebml(data: bytes, start: int, end: int, parent: int, out: list[Element]) -> None:
    at = start
    while at < end:
        element_id = _vint(data, at, keep_marker=True)
        size = _vint(data, at + element_id[1], keep_marker=False) if element_id else None
        if element_id is None or size is None:
            return
        body = at + element_id[1] + size[1]
        unknown = size[0] == (1 << (7 * size[1])) - 1
        stop = end if unknown else body + size[0]
        if stop > end:
            return
        out.append(Element(at, stop, at + element_id[1], size[1], "ebml", parent))
        if element_id[0] in _EBML_PARENTS:
            _ebml(data, body, stop, len(out) - 1, out)
        at = stop


def _riff(data: bytes, start: int, end: int, parent: int, out: list[Element]) -> None:
    at = start
    while at + 8 <= end:
        kind, size = struct.unpack_from("<4sI", data, at)
        stop = at + 8 + size + (size & 1)
        if stop > end + (size & 1):
            return
        out.append(Element(at, min(stop, end), at + 4, 4, "le", parent))
        if kind in {b"RIFF", b"LIST"}:
            _riff(data, at + 12, min(stop, end), len(out) - 1, out)
        at = stop


def _packets(data: bytes) -> list[Element]:
    return [Element(at, at + _TS_PACKET, at, 0, "none", -1)
            for at in range(0, len(data) - _TS_PACKET + 1, _TS_PACKET)]


def elements(data: bytes) -> list[Element]:
    """The element tree of `data`, flattened in file order (empty for unknown formats)."""
    out: list[Element] = []
    if data[4:8] in {b"ftyp", b"moov", b"mdat", b"free"}:
        _boxes(data, 0, len(data), -1, out)
    elif data[:4] == b"\x1a\x45\xdf\xa3":
        _ebml(data, 0, len(data), -1, out)
    elif data[:4] == b"RIFF":
        _riff(data, 0, len(data), -1, out)
    elif data[:1] == b"\x47" and data[_TS_PACKET : _TS_PACKET + 1] == b"\x47":
        return _packets(data)
    return out


def _interesting(rng: np.random.Generator, width: int, true: int) -> int:
    """A hostile value for a `width`-byte field whose real value is `true`."""
    top = (1 << (8 * width)) - 1
    choices = [0, 1, 7, 8, 0x7F, 0x80, top, top >> 1, true - 1, true + 1, true * 2, true // 2,
               int(rng.integers(0, top, endpoint=True, dtype=np.uint64))]
    return choices[int(rng.integers(len(choices)))] & top


def flip_bits(data: bytes, rng: np.random.Generator, others: Sequence[bytes]) -> bytes:
    """Flip 1 to 32 random bits."""
    out = bytearray(data)
    for at in rng.integers(0, len(out) * 8, int(rng.integers(1, 33))):
        out[at // 8] ^= 1 << (at % 8)
    return bytes(out)


def truncate(data: bytes, rng: np.random.Generator, others: Sequence[bytes]) -> bytes:
    """Keep a random prefix."""
    return data[: int(rng.integers(1, max(len(data), 2)))]


def splice(data: bytes, rng: np.random.Generator, others: Sequence[bytes]) -> bytes:
    """Replace (or, half the time, insert at) a random place a chunk of up to 1 KiB of another file."""
    donor = others[int(rng.integers(len(others)))]
    length = int(rng.integers(1, min(1024, len(donor)) + 1))
    source = int(rng.integers(0, len(donor) - length + 1))
    at = int(rng.integers(0, len(data)))
    cut = at + (length if rng.random() < 0.5 else 0)
    return data[:at] + donor[source : source + length] + data[cut:]


def overwrite_field(data: bytes, rng: np.random.Generator, others: Sequence[bytes]) -> bytes:
    """Write an interesting 1, 2 or 4-byte value over a header: within the first 64 bytes of
    a random element (of the file when it has none)."""
    tree = elements(data)
    start = tree[int(rng.integers(len(tree)))].start if tree else 0
    width = int(rng.choice([1, 2, 4]))
    at = max(0, min(start + int(rng.integers(0, 64)), len(data) - width))
    true = int.from_bytes(data[at : at + width], "big")
    return data[:at] + _interesting(rng, width, true).to_bytes(width, "big") + data[at + width :]


def corrupt_size(data: bytes, rng: np.random.Generator, others: Sequence[bytes]) -> bytes:
    """Give a random element a hostile size (EBML: a same-length vint, all ones is 'unknown')."""
    sized = [e for e in elements(data) if e.size_len]
    if not sized:
        return overwrite_field(data, rng, others)
    e = sized[int(rng.integers(len(sized)))]
    field = data[e.size_at : e.size_at + e.size_len]
    if e.encoding == "ebml":
        bits = 7 * e.size_len
        value = _interesting(rng, 8, int.from_bytes(field, "big") & ((1 << bits) - 1)) & ((1 << bits) - 1)
        new = ((1 << bits) | value).to_bytes(e.size_len, "big")
    else:
        order: Literal["big", "little"] = "big" if e.encoding == "be" else "little"
        new = _interesting(rng, e.size_len, int.from_bytes(field, order)).to_bytes(e.size_len, order)
    return data[: e.size_at] + new + data[e.size_at + e.size_len :]


def _pick(data: bytes, rng: np.random.Generator) -> tuple[list[Element], Element] | None:
    tree = elements(data)
    return (tree, tree[int(rng.integers(len(tree)))]) if tree else None


def duplicate(data: bytes, rng: np.random.Generator, others: Sequence[bytes]) -> bytes:
    """Repeat a random element right after itself."""
    if (picked := _pick(data, rng)) is None:
        return flip_bits(data, rng, others)
    e = picked[1]
    return data[: e.end] + data[e.start : e.end] + data[e.end :]


def drop(data: bytes, rng: np.random.Generator, others: Sequence[bytes]) -> bytes:
    """Remove a random element."""
    if (picked := _pick(data, rng)) is None:
        return truncate(data, rng, others)
    e = picked[1]
    return data[: e.start] + data[e.end :]


def reorder(data: bytes, rng: np.random.Generator, others: Sequence[bytes]) -> bytes:
    """Shuffle the children of a random parent (the top level included)."""
    tree = elements(data)
    parents = sorted({e.parent for e in tree if sum(s.parent == e.parent for s in tree) > 1})
    if not parents:
        return splice(data, rng, others)
    parent = parents[int(rng.integers(len(parents)))]
    siblings = [e for e in tree if e.parent == parent]
    chunks = [data[e.start : e.end] for e in siblings]
    order = rng.permutation(len(chunks))
    first, last = siblings[0].start, siblings[-1].end
    return data[:first] + b"".join(chunks[i] for i in order) + data[last:]


MUTATIONS: dict[str, Callable[[bytes, np.random.Generator, Sequence[bytes]], bytes]] = {
    "flip": flip_bits,
    "truncate": truncate,
    "splice": splice,
    "field": overwrite_field,
    "size": corrupt_size,
    "duplicate": duplicate,
    "drop": drop,
    "reorder": reorder,
}


def mutate(data: bytes, rng: np.random.Generator, others: Sequence[bytes]) -> tuple[str, bytes]:
    """One to three random mutations of `data` (`others`: files to splice from); returns
    their names, joined by '+', and the mutated bytes."""
    names = [str(n) for n in rng.choice(list(MUTATIONS), int(rng.integers(1, 4)))]
    for name in names:
        data = MUTATIONS[name](data, rng, others) or data[:1]
    return "+".join(names), data
