"""training/nets/stats.py: parameter and multiply-accumulate counts."""

import pytest
import torch
from torch import nn

from training.nets import NETS, count_flops, count_params


class Tiny(nn.Module):
    input_size = (3, 8, 8)

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.depthwise = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.depthwise(self.conv(x)))
        return self.fc(x.mean((2, 3)))


def test_count_params_by_hand() -> None:
    tiny = Tiny()
    # conv 8*3*9 = 216; depthwise 8*9 + 8 = 80; bn 8 + 8 = 16; fc 8*2 + 2 = 18
    assert count_params(tiny) == 216 + 80 + 16 + 18
    tiny.conv.weight.requires_grad_(False)
    assert count_params(tiny, trainable_only=True) == 80 + 16 + 18


def test_count_flops_by_hand() -> None:
    # conv: 8x8 outputs * 8 channels * (3*9) MACs; depthwise: 4x4 * 8 * 9; fc: 8*2
    assert count_flops(Tiny()) == 64 * 8 * 27 + 16 * 8 * 9 + 16
    assert count_flops(Tiny(), (3, 16, 16)) == 256 * 8 * 27 + 64 * 8 * 9 + 16


def test_count_flops_restores_the_training_mode() -> None:
    tiny = Tiny().train()
    count_flops(tiny)
    assert tiny.training


@pytest.mark.parametrize(
    ("name", "params", "macs"),
    [  # torchvision's published figures for the 1000-class ImageNet models at 224 px
        ("mobilenetv2_100", 3_504_872, 300e6),
        ("mobilenetv3_small_100", 2_542_856, 56e6),
    ],
)
def test_architectures_match_published_sizes(name: str, params: int, macs: float) -> None:
    net = NETS.build(name, num_classes=1000)
    assert count_params(net) == params
    assert count_flops(net, (3, 224, 224)) == pytest.approx(macs, rel=0.02)


def test_efficientnet_lite0_has_the_size_of_its_weight_file() -> None:
    # lite0 has no published torchvision figure; its weight file holds 4,652,008 parameters
    assert count_params(NETS.build("efficientnet_lite0", num_classes=1000)) == 4_652_008
