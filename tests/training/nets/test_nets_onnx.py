"""A student exports to ONNX (torch's dynamo exporter) and ONNX Runtime agrees with torch;
PatchNet folds the input scaling into its stem exactly."""

from itertools import takewhile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from training.modelfile.exporter import export_onnx
from training.nets import NETS
from training.nets.base import PixelInput


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


@pytest.mark.parametrize("name", ["patchnet_s", "patchnet_m"])
def test_patchnet_folds_the_input_scaling_into_its_stem_exactly(name: str) -> None:
    net = _calibrated(name)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    frames = torch.randint(0, 256, (4, 64, 64, 3), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        folded, reference = net.for_pixels()(frames), PixelInput(net)(frames)
    margin = reference[:, 1] - reference[:, 0]
    assert float(margin.max() - margin.min()) > 0.1  # frames tell apart: the check is not vacuous
    torch.testing.assert_close(folded, reference, rtol=1e-4, atol=1e-4)
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())  # the net itself untouched
    before_stem = takewhile(lambda node: node.op_type != "Conv", export_onnx(net, 64, 64).graph.node)
    ops = {node.op_type for node in before_stem}
    assert "Cast" in ops and not ops & {"Sub", "Div", "Mul", "Add"}  # no arithmetic pass before the stem
