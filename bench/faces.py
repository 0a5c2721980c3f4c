"""Face-mode benchmark: is one upload screened by faces at the speed its parts allow?

In one run, on one 720p H.264 clip with a moving face (generated: the astronaut's face,
~120 px, over a panning textured scene, ~5 Mb/s), measure side by side:
  D_f  decode + the face stage's views (every detector scale and the crop frame), frames/s,
  Det  the face detector alone on those views (batches as the service makes them), frames/s,
  Cls  the classifier alone on the face crops (batch max_batch_size), crops/s,
  E_f  end-to-end frames/s of one upload to the service running the face model,
  E    end-to-end frames/s of the same upload to the service running the frame model,
and print E_f / B_f with B_f = 1 / (1/D_f + 1/Det + c/Cls) (c: crops per frame), all
sharing the CPU cores. Each figure is the median of --repeats interleaved runs.

    python bench/faces.py [--face-model models/distilscreen-faces-smoke.onnx]
                          [--frame-model models/distilscreen-student.onnx] [--frames 150]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from common import ROOT, end_to_end_fps, limits_of, machine, make_clip, start_service
from skimage import data

from app.config import Settings
from app.contract.card import FaceCrop
from app.faces.crops import cut_face
from app.faces.detector import FaceDetector
from app.faces.plan import FacePlanner, FaceViews
from app.inference.engine import Engine
from app.video.decode import Limits, Sampling, VideoReader


def face_clip(path: Path, frames: int) -> Path:
    """`make_clip`'s 720p scene with the astronaut's head moving across it."""
    face = data.astronaut()[20:260, 120:330]  # head and shoulders: the face ~120 px wide
    return make_clip(path, frames=frames, overlay=lambda i, view: _paste(view, face, 100 + 3 * i, 200 + i))


def _paste(view: np.ndarray, patch: np.ndarray, x: int, y: int) -> None:
    h, w = patch.shape[:2]
    view[y : y + h, x : x + w] = patch


def decode_views(video: Path, planner: FacePlanner, limits: Limits) -> tuple[float, list[FaceViews]]:
    """D_f: every frame decoded and converted to the face stage's views (in this process)."""
    started = time.perf_counter()
    with video.open("rb") as source, VideoReader(source, limits) as reader:
        views = [f.pixels for f in reader.converted(Sampling(max_frames=10**9), planner)]
    return len(views) / (time.perf_counter() - started), views


def detector_fps(detector: FaceDetector, views: list[FaceViews], batch: int) -> tuple[float, list]:
    """Det: the detector alone; batches mix the scales as the service's batcher does."""
    inputs = [x for v in views for x in v.detector_inputs]
    started = time.perf_counter()
    found = []
    for i in range(0, len(inputs), batch):
        found += detector.detect_each(inputs[i : i + batch])
    per_frame = len(views[0].detector_inputs)
    return len(views) / (time.perf_counter() - started), [found[i : i + per_frame]
                                                           for i in range(0, len(found), per_frame)]


def classifier_fps(engine: Engine, crops: np.ndarray, batch: int) -> float:
    """Cls: the classifier alone on the crops."""
    started = time.perf_counter()
    for i in range(0, len(crops), batch):
        engine.predict(crops[i : i + batch])
    return len(crops) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--face-model", type=Path, default=ROOT / "models" / "distilscreen-faces-smoke.onnx")
    parser.add_argument("--frame-model", type=Path, default=ROOT / "models" / "distilscreen-student.onnx")
    parser.add_argument("--video", type=Path, help="a clip with faces (default: a generated 720p clip)")
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    settings = Settings()
    engine = Engine.load(args.face_model, settings.providers, settings.intra_op_threads)
    crop = engine.card.crop
    if not isinstance(crop, FaceCrop):
        raise SystemExit(f"{args.face_model} is not a face model (crop: {crop.kind})")
    detector = FaceDetector.load(
        crop.detector, settings.providers, settings.intra_op_threads, settings.detectors_dir
    )

    planner = FacePlanner(crop, detector.spec, settings.face_detector_max_side)

    video = args.video or face_clip(Path(tempfile.mkdtemp()) / "bench-faces-720p.mp4", args.frames)
    port = 18000 + os.getpid() % 1000
    services = {"face": start_service(port, args.face_model),
                "frame": start_service(port + 1, args.frame_model)}
    urls = {"face": f"http://127.0.0.1:{port}", "frame": f"http://127.0.0.1:{port + 1}"}
    runs: dict[str, list[float]] = {k: [] for k in ("D_f", "Det", "Cls", "E_f", "E")}
    try:
        for url in urls.values():
            end_to_end_fps(url, video)  # warm each side once
        for _ in range(args.repeats):  # interleaved: drift on a shared machine hits every figure
            d, views = decode_views(video, planner, limits_of(settings))
            plan = views[0].plan
            det, found = detector_fps(detector, views, settings.face_detector_batch_size)
            faces = [plan.faces(rows) for rows in found]
            crops = np.stack([cut_face(v.crop_frame, plan.source, f.box, crop)
                              for v, fs in zip(views, faces, strict=True) for f in fs])
            del views
            runs["D_f"].append(d)
            runs["Det"].append(det)
            runs["Cls"].append(classifier_fps(engine, crops, settings.max_batch_size))
            runs["E_f"].append(end_to_end_fps(urls["face"], video)[0])
            runs["E"].append(end_to_end_fps(urls["frame"], video)[0])
    finally:
        for service in services.values():
            service.terminate()
            service.wait()
    m = {k: statistics.median(v) for k, v in runs.items()}
    per_frame = len(crops) / len(faces)
    bound = 1 / (1 / m["D_f"] + 1 / m["Det"] + per_frame / m["Cls"])
    print(f"machine:   {machine()}")
    card = engine.card
    print(f"face model: {card.name} {card.version} @ {crop.size}, min face {crop.min_face_px} px, "
          f"{crop.detector} at {[s.padded for s in plan.scales]}, crops from {plan.crop_frame}")
    print(f"video:     {plan.source[0]}x{plan.source[1]}, {len(faces)} frames, {per_frame:.2f} faces a frame")
    for key, unit in (("D_f", "frames/s  decode + views"), ("Det", "frames/s  detector alone"),
                      ("Cls", "crops/s   classifier alone"), ("E_f", "frames/s  face mode end to end"),
                      ("E", "frames/s  frame mode end to end (frame model)")):
        print(f"{key:4s} {m[key]:8.1f} {unit}   runs {[round(x, 1) for x in runs[key]]}")
    print(f"B_f  {bound:8.1f} frames/s  1/(1/D_f + 1/Det + c/Cls)")
    print(f"E_f / B_f = {m['E_f'] / bound:.3f}   (target >= 0.8);  E_f / E = {m['E_f'] / m['E']:.3f}")


if __name__ == "__main__":
    main()
