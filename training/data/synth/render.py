"""Render one planned clip: canvas -> camera -> (face) -> lighting -> (edit) -> sensor -> H.264.

A face clip (source ``face:<photo>:<background>``) is a procedural background with a face
photo composited into every frame (``training.data.synth.faces``); its synthetic clips
carry the face self-blend (``FACE_FAMILY``)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from training.data.synth.capture import camera_path, lighting, sensor
from training.data.synth.faces import face_composite
from training.data.synth.recipes import FACE_FAMILY, Ranges, make_face_blend, make_manipulation
from training.data.synth.scenes import photo_canvas, procedural_canvas
from training.degrade.encode import EncodeSettings, encode_video

PRESETS = ("veryfast", "faster", "fast", "medium")


@dataclass(frozen=True)
class ClipPlan:
    """What one clip shows: its source (``photo:<name>`` / ``scene:<id>`` /
    ``face:<photo>:<background id>``) and label."""

    index: int
    source: str
    group: str
    label: int
    family: str | None  # manipulation family for synthetic clips

    @property
    def relpath(self) -> str:
        return f"videos/{self.index:06d}.mp4"


@dataclass(frozen=True)
class RenderConfig:
    seed: int
    width: int
    height: int
    frames: int
    difficulty: float


@functools.lru_cache(maxsize=4)
def _scene_canvas(seed: int, scene: int, height: int, width: int, stream: int = 2) -> np.ndarray:
    """One scene, one content: seeded by the scene, not the clip (cached: a scene's clips
    are rendered one after another); face backgrounds draw from their own `stream`."""
    canvas = procedural_canvas(np.random.default_rng([seed, scene, stream]), height, width)
    canvas.setflags(write=False)
    return canvas


def _canvas(plan: ClipPlan, cfg: RenderConfig, rng: np.random.Generator) -> np.ndarray:
    kind, name = plan.source.split(":", 1)
    if kind == "scene":
        return _scene_canvas(cfg.seed, int(name), 2 * cfg.height, 2 * cfg.width)
    if kind == "face":
        return _scene_canvas(cfg.seed, int(name.split(":")[1]), 2 * cfg.height, 2 * cfg.width, stream=4)
    grow = rng.uniform(1.3, 2.0)
    return photo_canvas(name, rng, round(cfg.height * grow), round(cfg.width * grow))


def render_clip(plan: ClipPlan, cfg: RenderConfig, out_dir: str | Path) -> dict:
    """Encode the clip to ``out_dir/plan.relpath``; returns a JSON-able record of its draw."""
    settings, record, frames = clip_frames(plan, cfg)
    encode_video(Path(out_dir) / plan.relpath, frames, settings)
    return record


def clip_frames(plan: ClipPlan, cfg: RenderConfig
                ) -> tuple[EncodeSettings, dict, Iterator[np.ndarray]]:
    """The clip's encoder settings, its record, and its uint8 RGB frames (lazily).

    Random draws happen in a fixed order and the edit's draws come last, so the same plan
    with ``family=None`` gives the same clip without the edit.
    """
    rng = np.random.default_rng([cfg.seed, plan.index, 1])
    ranges = Ranges.for_difficulty(cfg.difficulty)
    canvas = _canvas(plan, cfg, rng)
    camera = camera_path(rng, cfg.frames, canvas.shape[:2], (cfg.height, cfg.width))
    widest = float(camera.scale.max())
    if widest > 1.0:  # low-pass before the view shrinks the canvas: no aliasing
        sigma = 0.5 * np.sqrt(widest**2 - 1)
        canvas = ndimage.gaussian_filter(canvas, (sigma, sigma, 0))
    light = lighting(rng, cfg.frames, (cfg.height, cfg.width))
    cam_sensor = sensor(rng, ranges.isp)
    settings = EncodeSettings(
        fps=int(rng.choice([24, 25, 30])),
        crf=int(rng.integers(ranges.crf[0], ranges.crf[1] + 1)),
        preset=str(rng.choice(PRESETS)),
        keyint=int(rng.choice([12, 25, 50, 250])),
    )
    record: dict = {"index": plan.index, "path": plan.relpath, "label": plan.label,
                    "group": plan.group, "family": plan.family, "fps": settings.fps,
                    "crf": settings.crf, "preset": settings.preset, "keyint": settings.keyint,
                    "isp": cam_sensor.sharpen, "zoom": [float(camera.scale[0]),
                                                        float(camera.scale[-1])]}
    face = None
    if plan.source.startswith("face:"):
        face, record["face"] = face_composite(rng, plan.source.split(":")[1], cfg.frames,
                                              (cfg.height, cfg.width))
    edit = None
    under_noise = False
    if plan.family is not None:
        strength = float(rng.uniform(*ranges.strength))
        if plan.family == FACE_FAMILY:
            edit, params = make_face_blend(strength, rng, face, min(cfg.height, cfg.width))
        else:
            edit, params = make_manipulation(plan.family, strength, rng, camera)
        under_noise = bool(rng.random() < ranges.edit_under_noise)
        record.update(strength=strength, under_noise=under_noise, edit=params)
    noise_rng = np.random.default_rng([cfg.seed, plan.index, 3])

    def frames() -> Iterator[np.ndarray]:
        for t in range(cfg.frames):
            frame = camera.render(canvas, t)
            if face is not None:
                frame = face.apply(frame, t)
            frame = light.apply(frame, t)
            if edit is not None and under_noise:
                frame = edit.apply(frame, camera, t)
            frame = cam_sensor.apply(frame, noise_rng)
            if edit is not None and not under_noise:
                frame = edit.apply(frame, camera, t)
            yield (np.clip(frame, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)

    return settings, _jsonable(record), frames()


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return round(float(value), 6)
    if isinstance(value, np.integer):
        return int(value)
    return value
