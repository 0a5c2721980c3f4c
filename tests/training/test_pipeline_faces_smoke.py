"""The `faces-smoke` preset end to end through the command line (as CI runs it): face clips
generated, detected and cropped by the service's face stage, teachers, soft labels, a
student, evaluation, export; then the card is a face card the service's engine loads, and
it scores the face crops training cuts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest

from app.contract.card import FaceCrop
from app.inference.engine import Engine
from training.data import load_dataset, sample_frames
from training.data.faces import FaceSampler
from training.modelfile.cardfile import read_card


@pytest.fixture(scope="module")
def faces_run(tmp_path_factory: pytest.TempPathFactory,
              distill_preset: Callable[[str, Path], None]) -> Path:
    run = tmp_path_factory.mktemp("faces-smoke") / "run"
    distill_preset("faces-smoke", run)
    return run


def test_the_model_has_a_face_card_the_engine_loads(faces_run: Path) -> None:
    run = faces_run
    model = run / "model.onnx"
    card = read_card(onnx.load(model), str(model))
    assert card.name == "distilscreen-faces-smoke"
    assert card.crop == FaceCrop(kind="face", detector="blazeface_full_range", size=64)
    assert (card.input.height, card.input.width) == (card.crop.size, card.crop.size)
    engine = Engine.load(model, ["CPUExecutionProvider"])
    test = [s for s in load_dataset(run / "data") if s.split == "test"]
    crops = sample_frames(test[0].path, 3, card.crop.size, faces=FaceSampler(card.crop))
    p = engine.predict(crops)
    assert len(crops) >= 1 and p.shape == (len(crops),) and np.all((p >= 0) & (p <= 1))


def test_every_net_was_fed_face_crops(faces_run: Path) -> None:
    run = faces_run
    report = json.loads((run / "report.json").read_text())
    assert {row["name"] for row in report["rows"]} >= {"ensemble", "student:patchnet_s"}
    for path in sorted((run / "onnx").glob("*.onnx")):
        card = read_card(onnx.load(path), str(path))
        assert isinstance(card.crop, FaceCrop) and card.crop.size == card.input.height
    sizes = {np.load(entry).shape[1:] for entry in (run / "cache" / "frames").rglob("*.npy")}
    assert sizes == {(64, 64, 3), (96, 96, 3)}  # crops at the student's and the teachers' size


def test_robustness_scores_the_face_crops_the_service_would_cut(faces_run: Path) -> None:
    report = json.loads((faces_run / "report.json").read_text())
    auc = {row["name"]: row["auc"] for row in report["rows"]}
    for label, table in report["robustness"].items():
        # ONNX files on fresh face crops of the test clips == torch on the cached crops
        assert table["clean"]["auc"] == pytest.approx(auc[label], abs=1e-3)
