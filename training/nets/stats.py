"""Size and cost of a net: parameter count and multiply-accumulates per image."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (buffers such as BatchNorm statistics excluded)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_flops(model: nn.Module, input_size: tuple[int, int, int] | None = None) -> int:
    """Multiply-accumulates of one forward pass on one image of `input_size` (C, H, W),
    default `model.input_size`: "FLOPs" as the MobileNet/EfficientNet papers count them.

    Measured with `FlopCounterMode` (convolutions, linear layers and other matrix
    products; element-wise ops, pooling and normalisation are not counted), which counts
    2 FLOPs per multiply-accumulate. Runs in eval mode and restores the mode after."""
    size = input_size if input_size is not None else model.input_size
    param = next(model.parameters())
    x = torch.zeros(1, *size, device=param.device, dtype=param.dtype)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2
