"""FitNets hint loss: Romero, Ballas, Kahou, Chassang, Gatta, Bengio 2015, "FitNets:
Hints for Thin Deep Nets" (ICLR).

A regressor r maps the student's guided-layer map F_s (N, C_s, H_s, W_s) onto the
teacher's hint map F_t (N, C_t, H_t, W_t):

    r(F_s) = resize(BN(W * F_s), (H_t, W_t))          (W a 1x1 convolution)
    L_hint = MSE(r(F_s), F_t) = 1 / (N C_t H_t W_t) * sum (r(F_s) - F_t)^2

i.e. the mean over all elements, where the paper writes 1/2 * sum; the weight in the
combined loss absorbs the constant. The teacher map is a constant (detached).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Resize (N, C, H, W) maps to `size`: area average when shrinking along both axes,
    bilinear otherwise; unchanged when already that size."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    if x.shape[-2] >= size[0] and x.shape[-1] >= size[1]:
        return F.adaptive_avg_pool2d(x, size)
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class HintRegressor(nn.Module):
    """1x1 conv + BatchNorm from the student's channels to the teacher's, then a spatial
    resize to the teacher's map size. Trained with the student, discarded after."""

    def __init__(self, student_channels: int, teacher_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(student_channels, teacher_channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(teacher_channels)
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_out")

    def forward(self, student_feature: Tensor, size: tuple[int, int]) -> Tensor:
        return resize(self.bn(self.conv(student_feature)), size)


def hint_loss(regressed: Tensor, teacher_feature: Tensor) -> Tensor:
    """MSE(r(F_s), F_t), mean over all elements; `regressed` is r(F_s), already the
    teacher map's shape (see `HintRegressor`)."""
    if regressed.shape != teacher_feature.shape:
        raise ValueError(
            f"regressed student map {tuple(regressed.shape)} must match the teacher map "
            f"{tuple(teacher_feature.shape)}; map it with HintRegressor first"
        )
    return F.mse_loss(regressed, teacher_feature.detach().to(regressed.dtype))
