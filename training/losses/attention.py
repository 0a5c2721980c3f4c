"""Attention transfer: Zagoruyko & Komodakis 2017, "Paying More Attention to Attention:
Improving the Performance of Convolutional Neural Networks via Attention Transfer" (ICLR).

For a feature map F (N, C, H, W), the spatial attention map is

    Q(F) = 1/C * sum_c |F_c|^p                     (N, H, W), p = 2
    a(F) = vec(Q(F)) / || vec(Q(F)) ||_2            (N, H*W), unit L2 norm per sample

and the loss between a student and a teacher map is

    L_AT = beta / 2 * 1 / (N H W) * sum_n || a(F_s)_n - a(F_t)_n ||_2^2

i.e. beta/2 times the mean over samples *and positions* of the squared difference. That
is the normalisation of the authors' reference code (`(at(x) - at(y)).pow(2).mean()`),
for which beta = 1e3 was tuned; it also keeps the loss comparable across map sizes.
Maps of different sizes are compared at the smaller size: Q is area-averaged down
before normalising. The teacher map is a constant (detached).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from training.losses.fitnets import resize


def attention_energy(feature: Tensor, p: float = 2.0, size: tuple[int, int] | None = None) -> Tensor:
    """Q(F): mean over channels of |F|^p (N, 1, H, W), resized to `size` if given. The
    exported student's heatmap is Q of its last feature map (`training.modelfile.heatmap`)."""
    if feature.dim() != 4:
        raise ValueError(f"feature map must be (N, C, H, W), got {tuple(feature.shape)}")
    q = feature.abs().pow(p).mean(1, keepdim=True)
    return q if size is None else resize(q, size)


def attention_map(feature: Tensor, p: float = 2.0, size: tuple[int, int] | None = None) -> Tensor:
    """a(F): Q(F) flattened to (N, H*W) and L2-normalised per sample."""
    return F.normalize(attention_energy(feature, p, size).flatten(1), p=2.0, dim=1)


def attention_transfer_loss(
    student_feature: Tensor, teacher_feature: Tensor, beta: float = 1e3, p: float = 2.0
) -> Tensor:
    """beta/2 * mean over samples and positions of (a(F_s) - a(F_t))^2; channel counts
    may differ, spatial sizes are matched at the smaller of the two."""
    if student_feature.shape[0] != teacher_feature.shape[0]:
        raise ValueError(
            f"batch sizes differ: student {tuple(student_feature.shape)}, "
            f"teacher {tuple(teacher_feature.shape)}"
        )
    size = (
        min(student_feature.shape[-2], teacher_feature.shape[-2]),
        min(student_feature.shape[-1], teacher_feature.shape[-1]),
    )
    a_s = attention_map(student_feature, p, size)
    a_t = attention_map(teacher_feature.detach().to(student_feature.dtype), p, size)
    return beta / 2.0 * (a_s - a_t).pow(2).mean()
