"""A teacher's logits on frames under an augmentation view: through the contract's predictor
on its labelling ONNX file (teachers trained on the CPU have one, with a card), else its
torch net."""

from __future__ import annotations

import numpy as np
import torch

from app.contract.predictor import Predictor
from training.data.frameset import FrameSet, to_tensor
from training.distributed import progress
from training.loop import predict_logits
from training.modelfile.speed import CPU
from training.teachers.members import Teacher

CHUNK = 64  # frames per ONNX Runtime call


def teacher_logits(teacher: Teacher, frames: FrameSet, params: np.ndarray, device: torch.device
                   ) -> np.ndarray:
    """(N, 2) logits of `teacher` on `frames` under augmentation `params`.

    With an ONNX file (teachers trained on the CPU have one) the teacher runs in ONNX
    Runtime through the predictor (its raw logits; intra-op threads spinning between the
    calls, as a plain session's do), about twice torch's frames/s on 2 cores, on the view
    rounded to uint8 (at most 0.5/255 from the float view a student fits; view 0 is exact);
    else the torch net runs."""
    desc = f"labels {teacher.key}"
    if teacher.onnx is None:
        return predict_logits(teacher.net, frames, device, params, desc=desc)
    predictor = Predictor.load(teacher.onnx, CPU, spinning=True)
    out = [predictor.logits(view_pixels(frames.frames[i : i + CHUNK], params[i : i + CHUNK]))
           for i in progress(range(0, len(frames), CHUNK), desc, leave=False)]
    return np.concatenate(out) if out else np.zeros((0, 2), np.float32)


def view_pixels(frames: np.ndarray, params: np.ndarray) -> np.ndarray:
    """uint8 NHWC frames of the view `params` (`to_tensor`'s augmentation, rounded)."""
    x = to_tensor(frames, params).mul(255).round().to(torch.uint8)
    return np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy())


