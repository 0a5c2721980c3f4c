"""A small untrained CNN built with onnx.helper (no torch): the tests' stand-in model with a
valid card, at any input size.

It has the shape and cost of a small student (four stride-2 3x3 convolutions, global
pooling, a linear head: about 41 M multiply-adds at 224x224), but its weights are fixed
random numbers: its probabilities carry no signal. The shipped model in `models/` is a
trained student (README, "Training").

With `attention`, it also answers where it looks, as exported students do: the channel
mean of its last feature map squared, divided by each frame's max (the card's
`output.extra`), a (size / 16) x (size / 16) map.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from app.contract.card import ATTENTION, Calibration, InputSpec, ModelCard, OutputSpec
from training.modelfile.cardfile import attach_card

CHANNELS = (16, 32, 64, 64)
OPSET = 20


def build_baseline(
    size: int = 224,
    seed: int = 0,
    name: str = "baseline-untrained",
    version: str = "0.1.0",
    calibration: Calibration | None = None,
    attention: bool = False,
) -> onnx.ModelProto:
    """The placeholder CNN at `size` x `size` (dynamic batch), with its card attached (and
    an `attention` output declared in it, with `attention`)."""
    rng = np.random.default_rng(seed)
    nodes, weights = [], []
    previous, channels_in = "frames", 3
    for i, channels_out in enumerate(CHANNELS):
        w = rng.normal(0, np.sqrt(2 / (9 * channels_in)), (channels_out, channels_in, 3, 3))
        weights += [
            numpy_helper.from_array(w.astype(np.float32), f"conv{i}.weight"),
            numpy_helper.from_array(np.zeros(channels_out, np.float32), f"conv{i}.bias"),
        ]
        nodes += [
            helper.make_node(
                "Conv",
                [previous, f"conv{i}.weight", f"conv{i}.bias"],
                [f"conv{i}"],
                kernel_shape=[3, 3],
                strides=[2, 2],
                pads=[1, 1, 1, 1],
            ),
            helper.make_node("Relu", [f"conv{i}"], [f"relu{i}"]),
        ]
        previous, channels_in = f"relu{i}", channels_out
    head = rng.normal(0, 1 / np.sqrt(channels_in), (2, channels_in)).astype(np.float32)
    weights += [
        numpy_helper.from_array(head, "head.weight"),
        numpy_helper.from_array(np.zeros(2, np.float32), "head.bias"),
    ]
    nodes += [
        helper.make_node("GlobalAveragePool", [previous], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["features"]),
        helper.make_node("Gemm", ["features", "head.weight", "head.bias"], ["logits"], transB=1),
    ]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])]
    if attention:
        nodes += attention_nodes(previous)
        side = size // 2 ** len(CHANNELS)
        outputs.append(helper.make_tensor_value_info(ATTENTION, TensorProto.FLOAT, ["batch", side, side]))
    frames = helper.make_tensor_value_info("frames", TensorProto.FLOAT, ["batch", 3, size, size])
    graph = helper.make_graph(nodes, "baseline", [frames], outputs, initializer=weights)
    # IR 10, as torch's exporter writes for opset 20 (ONNX Runtime Web reads at most IR 13)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=10)
    onnx.checker.check_model(model)
    card = ModelCard(
        name=name,
        version=version,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        input=InputSpec(name="frames", height=size, width=size),
        output=OutputSpec(logits="logits", extra={ATTENTION: ATTENTION} if attention else {}),
        calibration=calibration or Calibration(),
        provenance={
            "kind": "untrained placeholder",
            "note": f"fixed random weights (seed {seed}): the probabilities carry no signal",
            "built_by": "tests/baseline.py",
        },
    )
    return attach_card(model, card)


def attention_nodes(features: str) -> list[onnx.NodeProto]:
    """`attention` (N, h, w) from the feature map `features` (N, C, h, w): the channel mean of
    its square, divided by each frame's max (of ReLU features of noisy frames: above 0)."""
    axes = {"channel_axis": [1], "map_axes": [1, 2]}
    return [
        *(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(v, np.int64)))
          for name, v in axes.items()),
        helper.make_node("Mul", [features, features], ["squared"]),
        helper.make_node("ReduceMean", ["squared", "channel_axis"], ["energy"], keepdims=0),
        helper.make_node("ReduceMax", ["energy", "map_axes"], ["peak"], keepdims=1),
        helper.make_node("Div", ["energy", "peak"], [ATTENTION]),
    ]
