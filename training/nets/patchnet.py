"""PatchNet students: a patchify stem, then stages of dense 3x3 convs (the first strided).

Depthwise convolutions keep MobileNets' multiply-adds low, but on a CPU in ONNX Runtime a
small MobileNet is bound by per-layer overhead, not arithmetic: MobileNetV3-Small 0.5x
runs at a fifth of the multiply-add rate the teachers reach (measured on 2 CPU cores,
batch 32). PatchNet trades
them for a few dense layers that ONNX Runtime runs at full rate: a non-overlapping 4x4
"patchify" stem (as in ConvNeXt: Liu et al. 2022, "A ConvNet for the 2020s", CVPR) sees
every pixel of the frame, so pixel-level traces (up-sampling periodicity, blending seams)
reach the first features, then three conv-BN-ReLU stages down to stride 32, each a stride-2
conv and `depths[i] - 1` more at stride 1. Depth pays where width does not: on the 0.5.0
run's soft labels a second conv at stride 32 (+3.7 M multiply-adds at 160 px) raised the
student's test AUC from 0.773 to 0.802 (at stride 16: 0.792), while widening the last two
stages for as many multiply-adds lowered it to 0.765 (README, "The shipped student").

Classes: `PatchNet`. Builders: `patchnet_s`, `patchnet_m`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from itertools import pairwise

import torch
from torch import Tensor, nn

from training.nets.base import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    NETS,
    BinaryClassifier,
    ConvBNAct,
    Normalize,
    PixelInput,
    global_pool,
    init_weights,
)


class PatchNet(BinaryClassifier):
    """4x4 stride-4 stem -> stages at `widths[1:]` of `depths` 3x3 convs (the first stride
    2) -> linear head. Intermediates are the stem and every stage's output (strides 4, 8,
    16, 32)."""

    feature_strides = [4, 8, 16, 32]
    input_size = (3, 128, 128)

    def __init__(self, widths: Sequence[int], depths: Sequence[int] = (1, 1, 1),
                 num_classes: int = 2, drop_rate: float = 0.1) -> None:
        super().__init__(num_classes, Normalize(IMAGENET_MEAN, IMAGENET_STD))
        if len(widths) != 4:
            raise ValueError(f"widths must name 4 stages (strides 4..32), got {list(widths)}")
        if len(depths) != 3 or min(depths) < 1:
            raise ValueError(f"depths must give 3 stages >= 1 conv each, got {list(depths)}")
        self.stem = nn.Sequential(
            nn.Conv2d(3, widths[0], 4, 4, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        self.stages = nn.ModuleList(
            nn.Sequential(ConvBNAct(a, b, 3, 2, act=nn.ReLU),
                          *(ConvBNAct(b, b, 3, 1, act=nn.ReLU) for _ in range(depth - 1)))
            for (a, b), depth in zip(pairwise(widths), depths, strict=True))
        self.feature_channels = list(widths)
        self.dropout = nn.Dropout(drop_rate)
        self.fc = nn.Linear(widths[-1], num_classes)
        init_weights(self)

    def forward_intermediates(self, x: Tensor) -> list[Tensor]:
        out = [self.stem(self.normalize(x))]
        for stage in self.stages:
            out.append(stage(out[-1]))
        return out

    def forward_head(self, features: Tensor) -> Tensor:
        return self.fc(self.dropout(global_pool(features)))

    def for_pixels(self) -> PixelInput:
        """An eval-mode copy taking uint8 frames, with the 1/255 scaling and the input
        normalisation folded into the stem: the conv's weights are divided by 255 * std and
        the shift by mean / std moves into its BatchNorm's running mean. Exact, as the 4x4
        stride-4 stem has no padding, and three passes over the input fewer (the student
        runs ~1.4x faster in ONNX Runtime, bench/preprocessing.py)."""
        net = copy.deepcopy(self).eval()
        conv, norm = net.stem[0], net.stem[1]
        mean, std = net.normalize.mean, net.normalize.std
        with torch.no_grad():
            norm.running_mean += (conv.weight * (mean / std)).sum((1, 2, 3))
            conv.weight /= 255 * std
        net.normalize = nn.Identity()
        return PixelInput(net, scale=1)


@NETS.register("patchnet_s")
def patchnet_s(num_classes: int = 2, drop_rate: float = 0.1) -> PatchNet:
    """PatchNet-S (16, 32, 64, 128; two convs at stride 32): the small student, ~6.7 M
    multiply-adds at 128 px (10.4 M at 160)."""
    return PatchNet((16, 32, 64, 128), (1, 1, 2), num_classes, drop_rate)


@NETS.register("patchnet_m")
def patchnet_m(num_classes: int = 2, drop_rate: float = 0.1) -> PatchNet:
    """PatchNet-M (24, 48, 96, 192; two convs at stride 32): the larger student, ~14.5 M
    multiply-adds at 128 px."""
    return PatchNet((24, 48, 96, 192), (1, 1, 2), num_classes, drop_rate)
