"""Where the model looks: the spatial attention of a net's last feature map, as an extra
output of its exported graph.

The map is the one attention transfer matches (`training.losses.attention`), Q(F) = 1/C *
sum_c F_c^2 over the `forward_features` map F (N, C, h, w), divided by each frame's
maximum so that it lies in [0, 1] (a frame whose features are all zero maps to zeros):

    heatmap(F)_n = Q(F)_n / max_ij Q(F)_nij                  (N, h, w)

It is proportional to AT's L2-normalised a(F), so the maps the student was taught to
match are the ones shown. At stride 32 a 160 px input gives 5 x 5.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from training.losses.attention import attention_energy
from training.nets.base import PixelInput

ATTENTION = "attention"  # the card's meaning (`output.extra`) and the graph's output name


def attention_heatmap(features: Tensor) -> Tensor:
    """Q of `features` (N, C, h, w) per frame, divided by the frame's max: (N, h, w) in [0, 1]."""
    q = attention_energy(features)
    # the max as a pooling over the whole map: ONNX Runtime's quantiser infers its shape
    # (a ReduceMax with its axes as an input it cannot)
    peak = F.max_pool2d(q, q.shape[-2:])
    # an all-zero map is divided by 1, not by an epsilon (one that FP16 variants keep is not small)
    return (q / (peak + (peak == 0).to(q.dtype))).squeeze(1)


class WithAttention(nn.Module):
    """A pixel-input net (`BinaryClassifier.for_pixels`) answering its logits and the
    heatmap of its last feature map, from one pass over the frames."""

    def __init__(self, pixels: PixelInput) -> None:
        super().__init__()
        self.pixels = pixels

    def forward(self, frames: Tensor) -> tuple[Tensor, Tensor]:
        net = self.pixels.net
        features = net.forward_features(self.pixels.inputs(frames))
        return net.forward_head(features), attention_heatmap(features)
