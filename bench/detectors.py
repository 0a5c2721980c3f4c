"""Face detector comparison: which detector the face stage ships, and why.

On this machine's cores, in one run: each detector's box on skimage's astronaut (IoU with
the pinned reference box), false faces on face-free photos (coffee, rocket, chelsea),
recall on 1280x720 composites of faces 40-200 px wide at random positions, and its time
per 720p frame. BlazeFace runs as the service runs it (both scales for 40 px faces);
OpenCV's Haar cascade (`pip install 'opencv-python-headless<5'`: 5.x ships no cascades)
with `minSize` 40 px on the grey frame, when cv2 is installed.

A second table gives BlazeFace's detection rate by face width in its own input pixels, at
input sides 192, 384 and 576 (the face pasted at random places in a photo of that size):
what `app.faces.registry` records as the smallest and largest face it finds.

    python bench/detectors.py [--composites 40]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app.contract.card import FaceCrop  # noqa: E402
from app.faces.boxes import iou  # noqa: E402
from app.faces.detector import FaceDetector  # noqa: E402
from app.faces.plan import FacePlan  # noqa: E402
from tests.helpers import ASTRONAUT_FACE, astronaut, face_scene  # noqa: E402

Detect = Callable[[np.ndarray], np.ndarray]  # RGB frame -> (K, 4) boxes x1, y1, x2, y2
MIN_FACE = 40


def blazeface() -> Detect:
    detector = FaceDetector.load("blazeface_full_range", ["CPUExecutionProvider"], intra_op_threads=2)
    crop = FaceCrop(kind="face", detector=detector.name, size=128, min_face_px=MIN_FACE)

    def detect(image: np.ndarray) -> np.ndarray:
        plan = FacePlan.make((image.shape[1], image.shape[0]), crop, detector.spec, max_side=960)
        views = plan.convert(av.VideoFrame.from_ndarray(image, format="rgb24"))
        faces = plan.faces(detector.detect_each(list(views.detector_inputs)))
        return np.array([f.box for f in faces]).reshape(-1, 4)

    return detect


def haar() -> Detect | None:
    try:
        import cv2
    except ImportError:
        return None
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")

    def detect(image: np.ndarray) -> np.ndarray:
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        found = cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(MIN_FACE, MIN_FACE))
        return np.array([(x, y, x + w, y + h) for x, y, w, h in found], np.float64).reshape(-1, 4)

    return detect


def best_iou(truth: tuple[float, ...], boxes: np.ndarray) -> float:
    return float(iou(np.array(truth), boxes).max()) if len(boxes) else 0.0


def evaluate(detect: Detect, composites: int) -> dict[str, str]:
    rng = np.random.default_rng(0)
    scenes = []
    for i in range(composites):
        face_px = (40, 56, 80, 120, 200)[i % 5]
        at = (int(rng.integers(0, 1280 - face_px)), int(rng.integers(0, 720 - face_px)))
        scenes.append(face_scene((1280, 720), face_px, at, data.coffee()))
    detect(scenes[0][0])  # warm up
    started = time.perf_counter()
    hits = sum(best_iou(truth, detect(frame)) >= 0.5 for frame, truth in scenes)
    ms = (time.perf_counter() - started) / len(scenes) * 1000
    false = sum(len(detect(getattr(data, name)())) for name in ("coffee", "rocket", "chelsea"))
    return {
        "astronaut IoU": f"{best_iou(ASTRONAUT_FACE, detect(astronaut())):.3f}",
        "false faces (3 photos)": str(false),
        f"recall, {composites} composites": f"{hits / len(scenes):.3f}",
        "ms / 720p frame": f"{ms:.1f}",
    }


def size_range(sides: tuple[int, ...] = (192, 384, 576), trials: int = 12) -> None:
    """Detection rate by face width (input pixels) at each input side, one square input."""
    detector = FaceDetector.load("blazeface_full_range", ["CPUExecutionProvider"], intra_op_threads=2)
    widths = (10, 12, 14, 16, 18, 20, 24, 32, 64, 128, 160, 176, 192)
    rng = np.random.default_rng(1)
    print("| input side | " + " | ".join(f"{w} px" for w in widths) + " |")
    print("|---" * (len(widths) + 1) + "|")
    for side in sides:
        rates = []
        for width in widths:
            hits = 0
            for _ in range(trials):
                room = max(1, side - width - 40)
                at = (int(rng.integers(20, 20 + room)), int(rng.integers(20, 20 + room)))
                frame, truth = face_scene((side, side), width, at, data.coffee())
                hits += best_iou(truth, detector.detect(frame[None])[0][:, :4]) >= 0.5
            rates.append(f"{hits / trials:.2f}")
        print(f"| {side} | " + " | ".join(rates) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--composites", type=int, default=40)
    args = parser.parse_args()
    detectors = {"BlazeFace full-range (ONNX, shipped)": blazeface(), "OpenCV Haar (cv2 4.x)": haar()}
    rows = {name: evaluate(d, args.composites) for name, d in detectors.items() if d is not None}
    columns = list(next(iter(rows.values())))
    print("| detector | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, row in rows.items():
        print(f"| {name} | " + " | ".join(row[c] for c in columns) + " |")
    missing = [name for name, d in detectors.items() if d is None]
    if missing:
        print(f"not run (not installed): {missing}")
    print()
    size_range()


if __name__ == "__main__":
    main()
