"""MobileNetV3-Small students.

Paper: Howard, Sandler, Chu, Chen, Chen, Tan, Wang, Zhu, Pang, Vasudevan, Le, Adam 2019,
"Searching for MobileNetV3" (ICCV); squeeze-excitation from Hu, Shen, Sun 2018,
"Squeeze-and-Excitation Networks" (CVPR).

Classes: `SqueezeExcite`, `InvertedResidual`, `MobileNetV3`. Builders:
`mobilenetv3_small_050`, `mobilenetv3_small_100`.

Layer table, width rounding (`make_divisible`) and initialisation follow torchvision's
MobileNetV3-Small; trained from scratch. Only standard convolutions, pooling and
element-wise ops, so the nets run in `channels_last` and export to ONNX unchanged.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from training.nets.base import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    NETS,
    BinaryClassifier,
    ConvBNAct,
    Normalize,
    global_pool,
    init_weights,
    make_divisible,
)

# (kernel, expanded, out, squeeze-excite, hard-swish (else ReLU), stride): paper Table 2.
_SMALL = ((3, 16, 16, True, False, 2), (3, 72, 24, False, False, 2),
          (3, 88, 24, False, False, 1), (5, 96, 40, True, True, 2),
          (5, 240, 40, True, True, 1), (5, 240, 40, True, True, 1),
          (5, 120, 48, True, True, 1), (5, 144, 48, True, True, 1),
          (5, 288, 96, True, True, 2), (5, 576, 96, True, True, 1),
          (5, 576, 96, True, True, 1))
# Indices into `blocks` whose outputs are intermediates (strides 4, 8, 16); last conv is last.
_TAPS = (0, 2, 7)


class SqueezeExcite(nn.Module):
    """Channel gate: pool -> 1x1 conv (ReLU) -> 1x1 conv (hard-sigmoid) -> rescale."""

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.act = nn.ReLU()
        self.gate = nn.Hardsigmoid()

    def forward(self, x: Tensor) -> Tensor:
        scale = self.fc2(self.act(self.fc1(F.adaptive_avg_pool2d(x, 1))))
        return x * self.gate(scale)


class InvertedResidual(nn.Module):
    """1x1 expand -> kxk depthwise -> [SE] -> 1x1 linear projection, identity if shapes allow."""

    def __init__(
        self, in_channels: int, kernel: int, expanded: int, out_channels: int,
        use_se: bool, hard_swish: bool, stride: int,
    ) -> None:
        super().__init__()
        act = nn.Hardswish if hard_swish else nn.ReLU
        layers: list[nn.Module] = []
        if expanded != in_channels:
            layers.append(ConvBNAct(in_channels, expanded, 1, act=act))
        layers.append(ConvBNAct(expanded, expanded, kernel, stride, groups=expanded, act=act))
        if use_se:
            layers.append(SqueezeExcite(expanded, make_divisible(expanded // 4)))
        layers.append(ConvBNAct(expanded, out_channels, 1, act=None))
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x) if self.residual else self.block(x)


class MobileNetV3(BinaryClassifier):
    """MobileNetV3-Small at width multiplier `width`; ImageNet normalisation."""

    feature_strides = [4, 8, 16, 32]
    input_size = (3, 128, 128)

    def __init__(self, width: float = 1.0, num_classes: int = 2, drop_rate: float = 0.2) -> None:
        super().__init__(num_classes, Normalize(IMAGENET_MEAN, IMAGENET_STD))

        def scale(channels: int) -> int:
            return make_divisible(channels * width)

        stem = scale(16)
        self.stem = ConvBNAct(3, stem, 3, 2, act=nn.Hardswish)
        blocks, channels = [], stem
        for k, expanded, out, use_se, hard_swish, stride in _SMALL:
            blocks.append(InvertedResidual(
                channels, k, scale(expanded), scale(out), use_se, hard_swish, stride
            ))
            channels = scale(out)
        self.blocks = nn.Sequential(*blocks)
        last = 6 * channels
        self.last_conv = ConvBNAct(channels, last, 1, act=nn.Hardswish)
        hidden = scale(1024)
        self.classifier = nn.Sequential(
            nn.Linear(last, hidden), nn.Hardswish(), nn.Dropout(drop_rate),
            nn.Linear(hidden, num_classes),
        )
        self.feature_channels = [scale(_SMALL[i][2]) for i in _TAPS] + [last]
        init_weights(self)

    def forward_intermediates(self, x: Tensor) -> list[Tensor]:
        x = self.stem(self.normalize(x))
        out = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in _TAPS:
                out.append(x)
        out.append(self.last_conv(x))
        return out

    def forward_head(self, features: Tensor) -> Tensor:
        return self.classifier(global_pool(features))


@NETS.register("mobilenetv3_small_050")
def mobilenetv3_small_050(num_classes: int = 2, drop_rate: float = 0.2) -> MobileNetV3:
    """MobileNetV3-Small 0.5: the small student."""
    return MobileNetV3(0.5, num_classes, drop_rate)


@NETS.register("mobilenetv3_small_100")
def mobilenetv3_small_100(num_classes: int = 2, drop_rate: float = 0.2) -> MobileNetV3:
    """MobileNetV3-Small 1.0: the base student."""
    return MobileNetV3(1.0, num_classes, drop_rate)
