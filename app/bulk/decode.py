"""Decode tasks: each video of a block through the service's decoder (a decoder worker
process with the service's memory and CPU limits, kept by each Ray worker for its tasks),
within the service's limits and sampling, into rows for the predictors.

A block of rows holds one video's sampled frames (`kind` "frame"; the converted arrays
as one binary `pixels`) and, last, its "video" row: its facts, or the error that stopped
it, with the service's code. A video that fails after some frames were sent is failed
whole, as the REST answer would be; the results writer drops its frames.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from app.bulk.sources import open_video
from app.config import Settings
from app.errors import InvalidOptions, ScreenError
from app.metrics import Metrics
from app.schemas import VideoFacts
from app.video.conversion import Conversion, Conversions
from app.video.decode import Limits, Sampling
from app.video.decoders import Decoder, decoder_from_settings

FRAME, VIDEO = "frame", "video"
FRAMES_PER_BLOCK = 256  # a long video's frames leave its task in blocks of this many
COLUMNS = ("video_id", "kind", "index", "time_s", "width", "height", "pixels", "detail")

_decoders: dict[tuple[int, int, int], Decoder] = {}


@dataclass(frozen=True)
class DecodePlan:
    """What every decode task needs, made once by the driver (picklable)."""

    settings: Settings
    sampling: Sampling
    limits: Limits
    conversions: Conversions
    threads: int  # FFmpeg threads per video: the CPUs a decode task holds


def decode_videos(batch: dict[str, np.ndarray], plan: DecodePlan) -> Iterator[dict[str, list[Any]]]:
    """`map_batches` function: the rows of each video of the batch, a block at a time."""
    for video in batch["video_id"]:
        yield from _video_rows(str(video), plan)


def pack(conversion: Conversion, value: Any) -> bytes:
    """A converted frame's arrays as one byte string, in the order of `conversion.shapes`."""
    return b"".join(np.ascontiguousarray(a, np.uint8).tobytes() for a in conversion.to_arrays(value))


def unpack(conversion: Conversion, data: bytes) -> Any:
    """The converted frame that `pack` wrote."""
    arrays, offset = [], 0
    for shape in conversion.shapes:
        size = int(np.prod(shape))
        arrays.append(np.frombuffer(data, np.uint8, size, offset).reshape(shape))
        offset += size
    return conversion.from_arrays(tuple(arrays))


def video_row(video_id: str, **detail: Any) -> dict[str, Any]:
    """A video's closing row: `frames` sent, with its `facts` and `decode_s`, or its `error`."""
    return {"video_id": video_id, "kind": VIDEO, "index": -1, "time_s": 0.0, "width": 0, "height": 0,
            "pixels": b"", "detail": json.dumps(detail)}


def error_detail(error: ScreenError) -> dict[str, str]:
    return {"code": error.code, "message": error.message}


def _video_rows(video_id: str, plan: DecodePlan) -> Iterator[dict[str, list[Any]]]:
    block: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    sent = 0
    try:
        with open_video(video_id) as source, _decoder(plan.settings).open(
            source, plan.limits, plan.threads
        ) as reader:
            width, height = reader.info.width, reader.info.height
            conversion = plan.conversions.for_size(width, height)
            for frame in reader.converted(plan.sampling, plan.conversions):
                for column, value in zip(COLUMNS, (video_id, FRAME, frame.index, frame.time_s, width, height,
                                                   pack(conversion, frame.pixels), ""), strict=True):
                    block[column].append(value)
                sent += 1
                if len(block["video_id"]) == FRAMES_PER_BLOCK:
                    yield block
                    block = {c: [] for c in COLUMNS}
            if not sent:
                raise InvalidOptions("no frame of the video falls within the requested range")
            facts = VideoFacts(**asdict(reader.info), frames_decoded=reader.frames_decoded,
                               frames_screened=sent)
            closing = video_row(video_id, frames=sent, facts=facts.model_dump(), decode_s=reader.busy_s)
    except ScreenError as exc:
        closing = video_row(video_id, frames=sent, error=error_detail(exc))
    for column in COLUMNS:
        block[column].append(closing[column])
    yield block


def _decoder(settings: Settings) -> Decoder:
    """This Ray worker's decoder: one worker process (or none, with `decode_workers=0`),
    started at its first task and reused by the next ones."""
    key = (min(settings.decode_workers, 1), settings.decoder_memory_limit_bytes, settings.decoder_cpu_limit_s)
    if key not in _decoders:
        decoder = decoder_from_settings(settings.model_copy(update={"decode_workers": key[0]}), Metrics())
        decoder.start()
        _decoders[key] = decoder
    return _decoders[key]
