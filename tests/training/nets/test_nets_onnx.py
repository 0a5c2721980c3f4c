"""A student exports to ONNX (torch's dynamo exporter) and ONNX Runtime agrees with torch."""

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from training.registry import NETS


def _calibrated(name: str) -> nn.Module:
    """A net whose outputs are far from 0.5: BatchNorm statistics of one real-ish batch
    (momentum 1: running stats := that batch's) and a unit-scale last linear layer."""
    net = NETS.build(name)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 1.0
    with torch.no_grad():
        net.train()(torch.rand(8, 3, 64, 64))
    last = [m for m in net.modules() if isinstance(m, nn.Linear)][-1]
    nn.init.normal_(last.weight, std=1.0)
    return net.eval()


def test_student_exports_with_a_dynamic_batch_and_matches_onnx_runtime(tmp_path: Path) -> None:
    net = _calibrated("mobilenetv3_small_050")
    path = tmp_path / "student.onnx"
    torch.onnx.export(
        net,
        (torch.rand(2, 3, 64, 64),),
        str(path),
        dynamo=True,
        external_data=False,
        input_names=["input"],
        output_names=["logits"],
        dynamic_shapes=({0: torch.export.Dim("batch")},),
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["student.onnx"]  # no external data
    model = onnx.load(str(path))
    assert {o.domain: o.version for o in model.opset_import}[""] >= 18
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic batch

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    x = torch.rand(5, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = net(x).softmax(1).numpy()
    (logits,) = session.run(["logits"], {"input": x.numpy()})
    got = torch.from_numpy(logits).softmax(1).numpy()
    assert np.ptp(expected[:, 1]) > 0.1  # the check is not vacuous
    assert np.abs(got - expected).max() <= 1e-4
