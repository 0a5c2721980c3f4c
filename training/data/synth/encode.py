"""H.264 encoding with PyAV's libx264, configured to behave like real camera files.

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


@dataclass(frozen=True)
class EncodeSettings:
    fps: int = 25
    crf: int = 23
    preset: str = "medium"
    keyint: int = 250


def encode_h264(path: str | Path, frames: Iterable[np.ndarray], settings: EncodeSettings
                ) -> int:
    """Write RGB uint8 frames (H x W x 3, even H and W) to an H.264 mp4; returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with av.open(str(path), "w", format="mp4") as container:
        # threads=1 is enough for one slice; an explicit x264 "slices=1" made the output
        # vary from run to run (measured: 4 in 60 encodes of one clip).
        options = {"crf": str(settings.crf), "preset": settings.preset,
                   "g": str(settings.keyint), "threads": "1"}
        if x264_cpu_mask() is not None:
            options["x264-params"] = f"asm={x264_cpu_mask()}"
        stream = container.add_stream("libx264", rate=Fraction(settings.fps), options=options)
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
