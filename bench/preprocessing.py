"""Where preprocessing runs: in the service (numpy) or inside the ONNX graph?

The same net is exported twice and timed side by side through the service's engine
(`training.modelfile.speed.compare_speed`: uint8 frames in, calibrated probabilities out, decoding
excluded):
  numpy   float NCHW input; the service casts, scales and transposes each batch in numpy
          (single-threaded), the net's normalisation runs in the graph (the contract
          before students were exported with uint8 input);
  graph   uint8 NHWC input, as `training.modelfile.exporter` writes it now: the service passes the
          decoded frames through, the cast and layout run on ONNX Runtime's threads, and
          PatchNet folds the scaling and normalisation into its stem.
Weights are random (speed does not depend on them).

    python bench/preprocessing.py [--nets patchnet_s mobilenetv2_100] [--size 160] [--batch 32]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from common import machine

from app.contract.card import InputSpec, ModelCard, OutputSpec
from training.modelfile.cardfile import attach_card
from training.modelfile.exporter import INPUT_NAME, OPSET, OUTPUT_NAME, export_student
from training.modelfile.speed import compare_speed
from training.nets import NETS


def export_float_input(net: torch.nn.Module, size: int, path: Path) -> None:
    """`net` with a float32 NCHW input in [0, 1]: the service scales and transposes."""
    program = torch.onnx.export(
        net.eval(), (torch.rand(2, 3, size, size),), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
        dynamic_shapes=({0: torch.export.Dim("batch")},), opset_version=OPSET, dynamo=True, verbose=False,
    )
    card = ModelCard(
        name="numpy", version="0", created="2026-01-01T00:00:00+00:00",
        input=InputSpec(
            name=INPUT_NAME, height=size, width=size, scale=1 / 255, mean=(0, 0, 0), std=(1, 1, 1)
        ),
        output=OutputSpec(logits=OUTPUT_NAME),
    )
    onnx.save(attach_card(program.model_proto, card), path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", nargs="+", default=["patchnet_s", "patchnet_m", "mobilenetv2_100"])
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # torch's exporter warns and logs about its own internals
    logging.disable(logging.WARNING)

    print(f"machine: {machine()}; batch {args.batch}, {args.threads} threads, {args.size} px, "
          f"medians of {args.rounds} interleaved rounds")
    frames = np.random.default_rng(0).integers(0, 256, (8, args.size, args.size, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.nets:
            torch.manual_seed(0)
            net = NETS.build(name).eval()
            numpy_path, graph_path = Path(tmp) / f"{name}.numpy.onnx", Path(tmp) / f"{name}.graph.onnx"
            export_float_input(net, args.size, numpy_path)
            export_student(net, graph_path, name=name, version="0", frames=frames)
            numpy_fps, graph_fps = compare_speed(
                [numpy_path, graph_path], batch_size=args.batch, threads=args.threads,
                rounds=args.rounds, seconds=args.seconds,
            )
            print(f"{name:>18}: numpy {numpy_fps:7.0f} frames/s, graph {graph_fps:7.0f} frames/s, "
                  f"graph / numpy {graph_fps / numpy_fps:.2f}x", flush=True)


if __name__ == "__main__":
    main()
