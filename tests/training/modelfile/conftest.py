"""Shared fixtures for the model-file tests: one torch thread, a tiny net and frames."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from app.contract.card import Calibration, ModelCard
from app.contract.predictor import Predictor
from training.modelfile.exporter import export_student
from training.nets import NETS

SIZE = 32

FrameMaker = Callable[[int, int], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Exported:
    path: Path
    net: nn.Module
    card: ModelCard


def build_tiny_net() -> nn.Module:
    """Two convolutions, pooling and a linear head whose synthetic logit rises with
    brightness (non-negative weights; the authentic logit is 0): float RGB [0, 1] NCHW in,
    two logits out, like every `training.nets` net."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, 2, 1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, 2, 1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 2),
    )
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
        net[-1].weight[0].zero_()
        net[-1].bias.copy_(torch.tensor([2.0, 0.0]))
    return net.eval()


def frames_and_labels(n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 frames (n, size, size, 3) and labels: dark noisy frames are authentic (0),
    bright ones synthetic (1), alternating."""
    rng = np.random.default_rng(n * 1000 + size)
    labels = np.arange(n) % 2
    base = np.where(labels == 1, 170, 60)[:, None, None, None]
    noise = rng.integers(-40, 41, (n, size, size, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8), labels


@pytest.fixture
def tiny_net() -> nn.Module:
    return build_tiny_net()


@pytest.fixture(scope="session")
def make_frames() -> FrameMaker:
    return frames_and_labels


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """The tiny net exported once at 32x32 (T = 1.5) for the whole session."""
    net = build_tiny_net()
    path = tmp_path_factory.mktemp("export") / "tiny.onnx"
    frames, _ = frames_and_labels(6, SIZE)
    with warnings.catch_warnings():  # torch's exporter warns about its own internals
        warnings.simplefilter("ignore", FutureWarning)
        card = export_student(
            net,
            path,
            name="tiny",
            version="0.0.1",
            frames=frames,
            calibration=Calibration(temperature=1.5, threshold=0.4),
        )
    return Exported(path, net, card)


STUDENT_SIZE = 160  # the shipped student's: a 5 x 5 attention map at stride 32


@pytest.fixture(scope="session")
def exported_student(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """An untrained patchnet_s exported once at 160 px (a BinaryClassifier: with its
    attention output) for the whole session."""
    torch.manual_seed(0)
    net = NETS.build("patchnet_s").eval()
    path = tmp_path_factory.mktemp("student") / "student.onnx"
    frames, _ = frames_and_labels(8, STUDENT_SIZE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        card = export_student(net, path, name="student", version="0.0.1", frames=frames)
    return Exported(path, net, card)


def assert_answers_like(model: Predictor, reference: Predictor, frames: np.ndarray, atol: float) -> None:
    """`model`'s p_synthetic and attention maps of `frames` are `reference`'s, within `atol`."""
    p, maps = model.predict_with_attention(frames)
    p_ref, maps_ref = reference.predict_with_attention(frames)
    assert maps.shape == maps_ref.shape == (len(frames), 5, 5)
    np.testing.assert_allclose(maps, maps_ref, atol=atol)
    np.testing.assert_allclose(p, p_ref, atol=atol)
