"""Test helpers shared across the tree: real encoded media and configured apps."""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import onnx
import onnxruntime as ort
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import Settings
from app.contract.card import ModelCard
from training.modelfile.cardfile import attach_card, read_card

MODEL_SIZE = 64


def encode_video(
    path: Path,
    frames: int = 48,
    size: tuple[int, int] = (160, 120),
    codec: str = "libx264",
    fps: int = 24,
    options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
    seed: int = 0,
) -> Path:
    """Encode `frames` frames of moving, noisy content; single-threaded like real files."""
    rng = np.random.default_rng(seed)
    width, height = size
    base = rng.integers(0, 256, (height * 2, width * 2, 3), dtype=np.uint8)
    with av.open(str(path), "w", options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = {"rawvideo": "rgb24", "png": "rgb24", "gif": "rgb8"}.get(codec, "yuv420p")
        stream.codec_context.thread_count = 1
        stream.options = options or {}
        for i in range(frames):
            crop = base[i % height : i % height + height, i % width : i % width + width]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(crop), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def encode_image(pixels: np.ndarray, codec: str = "png") -> bytes:
    """`pixels` (RGB) as one encoded image: `png` (lossless) or `mjpeg` (a JPEG)."""
    out = io.BytesIO()
    with av.open(out, "w", format="image2pipe") as container:
        stream = container.add_stream(codec)
        stream.height, stream.width = pixels.shape[:2]
        stream.pix_fmt = {"png": "rgb24", "mjpeg": "yuvj420p"}[codec]
        container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode())
    return out.getvalue()


def png_bytes() -> bytes:
    """A real PNG image (FFmpeg reads it as a one-frame `png_pipe`)."""
    return encode_image(np.zeros((16, 16, 3), np.uint8))


def wav_bytes() -> bytes:
    """A real WAV file: a container with audio and no video."""
    out = io.BytesIO()
    with av.open(out, "w", format="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return out.getvalue()


def configured(settings: Settings, **updates: object) -> Settings:
    """`settings` with some fields changed, validated like the environment would be."""
    return Settings.model_validate(settings.model_dump() | updates)


def running_client(app: FastAPI) -> Iterator[TestClient]:
    """A TestClient with the lifespan run and the model warmed up."""
    with TestClient(app, raise_server_exceptions=False) as client:
        client.portal.call(app.state.ready.wait)
        yield client


# The astronaut's face in skimage's `data.astronaut()` (512 x 512): measured once with the
# face stage (blazeface_full_range) and pinned; the tests hold detection to IoU >= 0.7.
ASTRONAUT_FACE = (173.0, 68.0, 280.0, 174.0)


def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def face_scene(
    size: tuple[int, int], face_px: int, at: tuple[int, int], background: np.ndarray | None = None
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """A frame of `size` (width, height) with the astronaut pasted so her face is `face_px`
    wide and its box starts at `at`; returns the frame and the face's true box."""
    from PIL import Image

    scale = face_px / (ASTRONAUT_FACE[2] - ASTRONAUT_FACE[0])
    side = round(512 * scale)
    patch = np.asarray(Image.fromarray(astronaut()).resize((side, side), Image.BILINEAR))
    width, height = size
    if background is None:
        frame = np.full((height, width, 3), 90, np.uint8)
    else:
        frame = np.asarray(Image.fromarray(background).resize((width, height), Image.BILINEAR)).copy()
    x0, y0 = round(at[0] - ASTRONAUT_FACE[0] * scale), round(at[1] - ASTRONAUT_FACE[1] * scale)
    src_x, src_y = max(0, -x0), max(0, -y0)
    dst_x, dst_y = max(0, x0), max(0, y0)
    w, h = min(side - src_x, width - dst_x), min(side - src_y, height - dst_y)
    frame[dst_y : dst_y + h, dst_x : dst_x + w] = patch[src_y : src_y + h, src_x : src_x + w]
    box = tuple(float(v) for v in (x0 + ASTRONAUT_FACE[0] * scale, y0 + ASTRONAUT_FACE[1] * scale,
                                   x0 + ASTRONAUT_FACE[2] * scale, y0 + ASTRONAUT_FACE[3] * scale))
    return frame, box  # type: ignore[return-value]


def encode_frames(path: Path, frames: list[np.ndarray], fps: int = 10, crf: int = 18) -> Path:
    """Encode RGB frames as single-threaded H.264 (near-lossless by default)."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.thread_count = 1
        stream.options = {"crf": str(crf)}
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


def with_face_crop(model: onnx.ModelProto, **crop: object) -> onnx.ModelProto:
    """`model` (a carded classifier) with its card's crop made a face crop at its input size."""
    card = read_card(model)
    face = {"kind": "face", "detector": "blazeface_full_range", "size": card.input.height, **crop}
    updated = card.model_dump() | {"schema_version": 2, "crop": face}
    return attach_card(model, ModelCard.model_validate(updated))


def independent_crop(frame: np.ndarray, box: list[float], margin: float, size: int) -> np.ndarray:
    """A card's face crop of `box`, cut without the service's code: a square of the box's
    larger side times `margin` about its centre, black beyond the frame, scaled to `size`."""
    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1) * margin
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, top = math.floor(cx - side / 2), math.floor(cy - side / 2)
    right, bottom = math.ceil(cx + side / 2), math.ceil(cy + side / 2)
    height, width = frame.shape[:2]
    pad = max(0, -left, -top, right - width, bottom - height)
    padded = np.pad(frame, ((pad, pad), (pad, pad), (0, 0)))
    region = np.ascontiguousarray(padded[pad + top : pad + bottom, pad + left : pad + right])
    picture = av.VideoFrame.from_ndarray(region, format="rgb24")
    return picture.reformat(size, size, format="rgb24").to_ndarray()


def direct_run(frames: list[np.ndarray] | np.ndarray, model: Path, output: str) -> np.ndarray:
    """`output` of plain ONNX Runtime on RGB frames already at the model's input size,
    normalised here (ImageNet mean and std, float NCHW: the test models' card)."""
    x = (np.stack(frames) / 255.0 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return session.run([output], {"frames": x.transpose(0, 3, 1, 2).astype(np.float32)})[0]


def direct_probabilities(frames: list[np.ndarray] | np.ndarray, model: Path) -> np.ndarray:
    """p_synthetic by plain ONNX Runtime (`direct_run`)."""
    logits = direct_run(frames, model, "logits")
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True))[:, 1]


def encode_gif(path: Path, frames: int = 8, size: tuple[int, int] = (64, 48), fps: int = 10) -> Path:
    """An animated GIF of `frames` noisy frames (palette RGB8, FFmpeg's `gif` codec)."""
    rng = np.random.default_rng(0)
    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("gif", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "rgb8"
        for _ in range(frames):
            image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path
