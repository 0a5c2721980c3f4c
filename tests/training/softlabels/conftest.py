"""Shared by the soft-label tests: two small teachers and frames at both their sizes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
import torch

from training.config import TeacherSpec
from training.data.frameset import FrameSet
from training.data.stage import BySize
from training.nets import NETS
from training.teachers.members import Teacher


@pytest.fixture
def teachers() -> list[Teacher]:
    """Two small members at two input sizes, weighted 1:3; weights jittered so that the
    logits (about +-1) follow the frames (fresh nets answer ~0 whatever they see)."""
    out = []
    torch.manual_seed(0)
    for key, size, weight in (("a", 32, 1.0), ("b", 16, 3.0)):
        net = NETS.build("patchnet_s").eval()
        with torch.no_grad():
            for param in net.parameters():
                param.add_(0.1 * torch.randn_like(param))
        out.append(Teacher(key, TeacherSpec("patchnet_s", size=size, weight=weight),
                           net, digest=f"digest-{key}"))
    return out


@pytest.fixture
def two_sizes() -> Callable[[FrameSet], BySize]:
    """two_sizes(frames at 32): the same frames at both teachers' sizes, 32 and 16."""
    return lambda frames: {32: frames, 16: replace(frames, frames=frames.frames[:, ::2, ::2].copy())}
