"""Noise-residual teacher: fixed SRM high-pass filters in front of a small ResNet.

Papers: Fridrich & Kodovsky 2012, "Rich Models for Steganalysis of Digital Images" (IEEE
TIFS), for the spatial rich model (SRM) residual filters and their truncation; Zhou, Han,
Morariu, Davis 2018, "Learning Rich Features for Image Manipulation Detection" (CVPR), for
the three-kernel SRM subset used in front of a CNN; He et al. 2016, "Deep Residual
Learning for Image Recognition" (CVPR), for the basic block.

Classes: `SRMFilter`, `BasicBlock`, `SRMResNet`. Builders: `srm_resnet`.

The filters see pixel-level noise rather than content, so this member looks at a
different view of the frame than the ImageNet backbones: blending seams, resampling
and up-sampling fingerprints. Trained from scratch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from training.nets.base import NETS, BinaryClassifier, ConvBNAct, global_pool, init_weights

# The 5x5 "KV" (SQUARE 5x5), 3x3 "SQUARE" and horizontal second-order residual kernels.
SRM_KERNELS = (
    [[-1, 2, -2, 2, -1], [2, -6, 8, -6, 2], [-2, 8, -12, 8, -2], [2, -6, 8, -6, 2],
     [-1, 2, -2, 2, -1]],
    [[0, 0, 0, 0, 0], [0, -1, 2, -1, 0], [0, 2, -4, 2, 0], [0, -1, 2, -1, 0], [0, 0, 0, 0, 0]],
    [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 1, -2, 1, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]],
)
SRM_SCALES = (12.0, 4.0, 2.0)  # each kernel's normaliser q from the rich-model paper


class SRMFilter(nn.Module):
    """Fixed residuals: each SRM kernel on each RGB channel (9 maps), computed on the
    0..255 pixel scale, truncated to [-T, T] and divided by T (T = `threshold`)."""

    out_channels = 3 * len(SRM_KERNELS)

    def __init__(self, threshold: float = 3.0) -> None:
        super().__init__()
        kernels = torch.tensor(SRM_KERNELS, dtype=torch.float32)
        kernels = kernels / torch.tensor(SRM_SCALES).view(-1, 1, 1)
        # groups=3: output channels 3c..3c+2 are the three kernels on input channel c.
        self.register_buffer("weight", kernels.repeat(3, 1, 1).unsqueeze(1), persistent=False)
        self.threshold = threshold

    def forward(self, x: Tensor) -> Tensor:
        residual = F.conv2d(x * 255.0, self.weight, padding=2, groups=3)
        return residual.clamp(-self.threshold, self.threshold) / self.threshold


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 projection) shortcut, then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = ConvBNAct(in_channels, out_channels, 3, stride, act=nn.ReLU)
        self.conv2 = ConvBNAct(out_channels, out_channels, 3, act=None)
        self.shortcut = (
            nn.Identity()
            if stride == 1 and in_channels == out_channels
            else ConvBNAct(in_channels, out_channels, 1, stride, act=None)
        )
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.conv2(self.conv1(x)) + self.shortcut(x))


class SRMResNet(BinaryClassifier):
    """SRM residuals -> full-resolution stem -> one stride-2 stage per width -> linear head.

    The stem keeps full resolution for its first conv so the noise patterns are seen
    before any subsampling. Intermediates are the outputs of the last four stages."""

    feature_strides = [4, 8, 16, 32]
    input_size = (3, 128, 128)

    def __init__(
        self,
        num_classes: int = 2,
        widths: Sequence[int] = (48, 96, 160, 256),
        depth: int = 1,
        stem_width: int = 32,
        drop_rate: float = 0.2,
    ) -> None:
        super().__init__(num_classes)
        if len(widths) != 4:
            raise ValueError(f"widths must name 4 stages (strides 4..32), got {list(widths)}")
        self.srm = SRMFilter()
        self.stem = nn.Sequential(
            ConvBNAct(SRMFilter.out_channels, stem_width, 3, act=nn.ReLU),
            ConvBNAct(stem_width, stem_width, 3, 2, act=nn.ReLU),
        )
        stages, channels = [], stem_width
        for width in widths:
            blocks = [BasicBlock(channels if i == 0 else width, width, 2 if i == 0 else 1)
                      for i in range(depth)]
            stages.append(nn.Sequential(*blocks))
            channels = width
        self.stages = nn.Sequential(*stages)
        self.feature_channels = list(widths)
        self.dropout = nn.Dropout(drop_rate)
        self.fc = nn.Linear(channels, num_classes)
        init_weights(self)

    def forward_intermediates(self, x: Tensor) -> list[Tensor]:
        x = self.stem(self.srm(x))
        out = []
        for stage in self.stages:
            x = stage(x)
            out.append(x)
        return out

    def forward_head(self, features: Tensor) -> Tensor:
        return self.fc(self.dropout(global_pool(features)))


@NETS.register("srm_resnet")
def srm_resnet(num_classes: int = 2, depth: int = 1, drop_rate: float = 0.2) -> SRMResNet:
    """SRM residual teacher, widths 48-96-160-256, `depth` basic blocks per stage."""
    return SRMResNet(num_classes, depth=depth, drop_rate=drop_rate)
