"""The contract every net follows, and the pieces the families share.

Every net is a binary classifier over RGB frames: input float RGB in [0, 1], NCHW;
output two logits ordered as `CLASS_NAMES`. A net normalises its own input (its
mean/std live inside it as non-persistent buffers), so teachers with different
pretraining conventions and the student all share one input contract, and the ONNX
file carries the normalisation with it. `NETS` is the family's registry: each family
module registers its builders in it.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from training.registry import Registry

CLASS_NAMES = ("authentic", "synthetic")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Normalize(nn.Module):
    """`(x - mean) / std` per channel; the constants are not part of the state dict."""

    def __init__(self, mean: Iterable[float], std: Iterable[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(list(mean)).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(list(std)).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


class BinaryClassifier(nn.Module):
    """Base of every registered net.

    Subclasses set `feature_channels` and `feature_strides` (one entry per map that
    `forward_intermediates` returns, the last being the `forward_features` map) and
    `input_size` (C, H, W), and implement `forward_intermediates` and `forward_head`.
    """

    feature_channels: list[int]
    feature_strides: list[int]
    input_size: tuple[int, int, int]

    def __init__(self, num_classes: int = 2, normalize: nn.Module | None = None) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.normalize = normalize if normalize is not None else nn.Identity()

    def forward_intermediates(self, x: Tensor) -> list[Tensor]:
        """Feature maps (N, C_i, H/s_i, W/s_i) at the chosen stages, shallow to deep."""
        raise NotImplementedError

    def forward_head(self, features: Tensor) -> Tensor:
        """Logits (N, num_classes) from the `forward_features` map."""
        raise NotImplementedError

    def forward_features(self, x: Tensor) -> Tensor:
        """The final feature map (N, C, H/32, W/32) the head pools."""
        return self.forward_intermediates(x)[-1]

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def for_pixels(self) -> PixelInput:
        """This net as exported, taking uint8 frames as decoded (see `PixelInput`). Nets whose
        first layer can absorb the scaling and normalisation override it to fold them in."""
        return PixelInput(self)


class PixelInput(nn.Module):
    """`net` fed uint8 frames (N, H, W, 3) as decoded: the cast to float, the move to NCHW
    and the `scale` (1/255: the nets take [0, 1]) run inside the exported graph, on ONNX
    Runtime's threads, instead of as a single-threaded numpy pass in the service."""

    def __init__(self, net: nn.Module, scale: float = 1 / 255) -> None:
        super().__init__()
        self.net = net
        self.scale = scale

    def inputs(self, frames: Tensor) -> Tensor:
        """uint8 frames (N, H, W, 3) -> the net's float input (N, 3, H, W)."""
        x = frames.permute(0, 3, 1, 2).float()
        return x if self.scale == 1 else x * self.scale

    def forward(self, frames: Tensor) -> Tensor:
        return self.net(self.inputs(frames))


class ConvBNAct(nn.Sequential):
    """Conv (no bias) -> BatchNorm -> activation, named `0`, `1`, `2` like torchvision's
    `Conv2dNormActivation`, so torchvision state dicts load into it."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        act: Callable[[], nn.Module] | None = nn.ReLU6,
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(
                in_channels, out_channels, kernel_size, stride, (kernel_size - 1) // 2,
                groups=groups, bias=False,
            ),
            nn.BatchNorm2d(out_channels),
        ]
        if act is not None:
            layers.append(act())
        super().__init__(*layers)


NETS: Registry[BinaryClassifier] = Registry("net", modules=("training.nets",))


def global_pool(features: Tensor) -> Tensor:
    """Spatial mean: (N, C, H, W) -> (N, C)."""
    return F.adaptive_avg_pool2d(features, 1).flatten(1)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round channels to a multiple of `divisor`, never below 90% of `value` (torchvision)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def init_weights(module: nn.Module) -> None:
    """torchvision's MobileNet init: Kaiming-normal (fan_out) convs, unit BatchNorm,
    N(0, 0.01) linears, zero biases. PyTorch's default init shrinks activations through
    these deep narrow nets (to ~1e-10 in MobileNet/EfficientNet trained from scratch); this
    keeps them at unit scale."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)


def weights_file(package: str, *parts: str) -> Path:
    """Path of a weight file shipped inside an installed package."""
    try:
        root = importlib.resources.files(package)
    except ModuleNotFoundError as exc:
        raise FileNotFoundError(
            f"pretrained weights need the package {package!r}; install it "
            f"(see the Makefile's venv-test target)"
        ) from exc
    return Path(str(root.joinpath(*parts)))


def load_backbone(
    model: nn.Module, state_dict: Mapping[str, Tensor], head_keys: Iterable[str]
) -> list[str]:
    """Load a pretrained `state_dict`: every key but the classifier's must match the model
    exactly (names and shapes); the checkpoint's classifier is kept only if its shape fits
    (e.g. `num_classes=1000`). Returns the keys left at their initial values."""
    head = set(head_keys)
    own = model.state_dict()
    kept = {
        k: v for k, v in state_dict.items() if k not in head or own[k].shape == v.shape
    }
    result = model.load_state_dict(kept, strict=False)
    missing = sorted(set(result.missing_keys) - head)
    if missing or result.unexpected_keys:
        raise RuntimeError(
            f"{type(model).__name__}: pretrained backbone does not match; "
            f"missing {_some(missing)}, unexpected {_some(sorted(result.unexpected_keys))}"
        )
    return sorted(result.missing_keys)


def _some(keys: list[str], shown: int = 3) -> str:
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return f"{len(keys)} keys {keys[:shown]}{more}"
