"""Degradations applied to a clip's decoded frames with PyAV's encoders, in memory
(`degraded_frames`: what the training views sample) or into a file (`write_degraded`: the
evaluation's degraded test clips).

Every step takes and gives `av.VideoFrame`s. An `Encode` hands the frames to the encoder
as RGB arrays at even sizes (yuv420p needs them: an odd width or height loses its last column or
row), encodes the whole clip into memory (mp4; webm for VP9) and yields what decoding that
gives, so what follows sees the codec's output as the service would decode it. Frame
counts never change.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import av
import numpy as np
from PIL import Image

from training.degrade.encode import EncodeSettings, encode_video
from training.degrade.spec import Degradation, Encode, Jpeg, Noise, Rescale, Step

Frames = Iterable[av.VideoFrame]
FINAL_CRF = 18  # a degradation that does not end in an encode is written near-losslessly


def degraded_frames(frames: Frames, degradation: Degradation, fps: int) -> Iterator[av.VideoFrame]:
    """`frames` (one clip, at `fps`) through every step of `degradation`, in order."""
    out: Frames = frames
    for step in degradation:
        out = _STEPS[type(step)](out, step, fps)
    return iter(out)


def write_degraded(path: str | Path, degradation: Degradation, out: str | Path) -> Path:
    """The clip at `path` degraded into the file `out` (mp4; webm for VP9): its last step,
    when an `Encode`, writes the file (its bitrate is that CRF's), else H.264 at CRF 18."""
    *steps, last = degradation or (Encode("h264", FINAL_CRF),)
    if not isinstance(last, Encode):
        steps, last = [*steps, last], Encode("h264", FINAL_CRF)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = clip_fps(stream)
        frames = degraded_frames(container.decode(stream), tuple(steps), fps)
        encode_video(out, _rgb(frames), EncodeSettings(fps=fps, crf=last.crf, codec=last.codec))
    return Path(out)


def clip_fps(stream: av.VideoStream) -> int:
    """The stream's frame rate, rounded (25 when the file does not say)."""
    return round(float(stream.average_rate or 25))


def _rescale(frames: Frames, step: Rescale, fps: int) -> Iterator[av.VideoFrame]:
    for frame in frames:
        width, height = _even(frame)
        small_w, small_h = (max(2, round(v * step.factor / 2) * 2) for v in (width, height))
        small = frame.reformat(small_w, small_h, interpolation="BILINEAR")
        yield small.reformat(width, height, format="rgb24", interpolation="BILINEAR")


def _jpeg(frames: Frames, step: Jpeg, fps: int) -> Iterator[av.VideoFrame]:
    for frame in frames:
        buffer = io.BytesIO()
        Image.fromarray(frame.to_ndarray(format="rgb24")).save(buffer, "JPEG", quality=step.quality)
        with Image.open(buffer) as image:
            yield av.VideoFrame.from_ndarray(np.asarray(image.convert("RGB")), format="rgb24")


def _noise(frames: Frames, step: Noise, fps: int) -> Iterator[av.VideoFrame]:
    rng = np.random.default_rng(step.seed)
    for frame in frames:
        pixels = frame.to_ndarray(format="rgb24").astype(np.float32)
        pixels += rng.normal(0.0, step.sigma * 255, pixels.shape).astype(np.float32)
        yield av.VideoFrame.from_ndarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), format="rgb24")


def _encode(frames: Frames, step: Encode, fps: int) -> Iterator[av.VideoFrame]:
    buffer = io.BytesIO()
    encode_video(buffer, _rgb(frames), EncodeSettings(fps=fps, crf=step.crf, codec=step.codec))
    buffer.seek(0)
    with av.open(buffer) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        yield from container.decode(stream)


def _rgb(frames: Frames) -> Iterator[np.ndarray]:
    """Frames as an encoder takes them: RGB arrays at even sizes."""
    for frame in frames:
        width, height = _even(frame)
        yield frame.to_ndarray(width=width, height=height, format="rgb24", interpolation="BILINEAR")


def _even(frame: av.VideoFrame) -> tuple[int, int]:
    return frame.width // 2 * 2, frame.height // 2 * 2


_STEPS: dict[type, Callable[[Frames, Step, int], Iterator[av.VideoFrame]]] = {
    Rescale: _rescale, Jpeg: _jpeg, Noise: _noise, Encode: _encode,
}
