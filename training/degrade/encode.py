"""Video encoding with PyAV (H.264 by libx264, and HEVC or VP9), configured to behave like
real camera files, to a file or to memory.

x264 run with several threads cuts each frame into slices, which decoders then
parallelise: test clips would decode faster than real single-slice files (camera and
phone files are mostly one slice a frame).
One encoder thread gives one slice per frame.

Reproducibility: x264's AVX-512 routines made the output vary between runs of the same
input (measured with this PyAV 18.1 wheel on an AVX-512 Xeon: 96x64 clips differed in
44% of 500 encodes, 64x64 in 1%; none with AVX-512 masked off or without assembly). The
encoder is therefore given this CPU's flags minus AVX-512 (``x264-params asm=<mask>``);
its output then equals x264's plain-C output, byte for byte, at AVX2 speed.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

# x264.h X264_CPU_* flags by the feature names numpy reports (AVX512, 1 << 16, left out).
_X264_CPU_FLAGS = {
    "MMX": 1 << 0, "SSE": (1 << 1) | (1 << 2),  # SSE implies MMX2 (MMXEXT)
    "SSE2": 1 << 3, "LZCNT": 1 << 4, "SSE3": 1 << 5, "SSSE3": 1 << 6, "SSE41": 1 << 7,
    "SSE42": 1 << 8, "AVX": 1 << 9, "XOP": 1 << 10, "FMA4": 1 << 11, "FMA3": 1 << 12,
    "BMI": 1 << 13, "BMI2": 1 << 14, "AVX2": 1 << 15,
}
_X264_CACHELINE_64 = 1 << 18


@functools.cache
def x264_cpu_mask() -> int | None:
    """x264 CPU flags for this x86 machine without AVX-512; None elsewhere (auto-detect)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # numpy < 2
        try:
            from numpy.core._multiarray_umath import __cpu_features__ as features
        except ImportError:
            return None
    if not features.get("SSE2"):
        return None
    mask = _X264_CACHELINE_64
    for name, flags in _X264_CPU_FLAGS.items():
        if features.get(name):
            mask |= flags
    return mask


CODECS = ("h264", "hevc", "vp9")
_ENCODERS = {"h264": ("libx264", "mp4"), "hevc": ("libx265", "mp4"), "vp9": ("libvpx-vp9", "webm")}


@dataclass(frozen=True)
class EncodeSettings:
    fps: int = 25
    crf: int = 23
    preset: str = "medium"
    keyint: int = 250
    codec: str = "h264"

    def __post_init__(self) -> None:
        if self.codec not in _ENCODERS:
            raise ValueError(f"codec must be one of {', '.join(CODECS)}, got {self.codec!r}")


def encode_video(target: str | Path | BinaryIO, frames: Iterable[np.ndarray], settings: EncodeSettings
                 ) -> int:
    """Write RGB uint8 frames (H x W x 3, even H and W) to a file or a binary buffer (mp4;
    webm for VP9), one encoder thread; returns the count."""
    if isinstance(target, str | Path):
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        target = str(target)
    encoder, container_format = _ENCODERS[settings.codec]
    count = 0
    with av.open(target, "w", format=container_format) as container:
        stream = container.add_stream(encoder, rate=Fraction(settings.fps),
                                      options=_options(settings))
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = 1
        for rgb in frames:
            if count == 0:
                stream.height, stream.width = rgb.shape[:2]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts = count
            for packet in stream.encode(frame):
                container.mux(packet)
            count += 1
        for packet in stream.encode(None):
            container.mux(packet)
    return count


def _options(settings: EncodeSettings) -> dict[str, str]:
    """The encoder's options: one thread each (one slice a frame, reproducible output)."""
    crf, keyint = str(settings.crf), str(settings.keyint)
    if settings.codec == "vp9":  # constant quality: crf with no bitrate target
        return {"crf": crf, "b": "0", "g": keyint, "threads": "1", "row-mt": "0",
                "deadline": "good", "cpu-used": "4"}
    if settings.codec == "hevc":
        return {"crf": crf, "preset": settings.preset, "x265-params":
                f"keyint={keyint}:pools=none:frame-threads=1:log-level=error"}
    # threads=1 is enough for one slice; an explicit x264 "slices=1" made the output
    # vary from run to run (measured: 4 in 60 encodes of one clip).
    options = {"crf": crf, "preset": settings.preset, "g": keyint, "threads": "1"}
    if x264_cpu_mask() is not None:
        options["x264-params"] = f"asm={x264_cpu_mask()}"
    return options
