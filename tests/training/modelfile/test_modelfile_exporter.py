"""training/modelfile/exporter.py: the exported file is accepted by the service's engine and matches
torch; a parity failure leaves no file; a given graph is used as is."""

import copy
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

import training.modelfile.exporter as export
from app.inference.engine import Engine
from training.modelfile.cardfile import read_card
from training.modelfile.exporter import ExportError, export_student, torch_attention, torch_logits
from training.nets import NETS
from training.scoring.calibrate import p_synthetic

CPU = ["CPUExecutionProvider"]
pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec:FutureWarning")  # torch's exporter


def test_engine_accepts_the_file_and_matches_torch(exported, make_frames) -> None:
    engine = Engine.load(exported.path, CPU, intra_op_threads=1)
    spec = engine.card.input
    assert (spec.name, spec.layout, spec.dtype) == ("frames", "NHWC", "uint8")
    assert (spec.height, spec.width) == (32, 32)
    assert (spec.scale, spec.mean, spec.std) == (1, (0, 0, 0), (1, 1, 1))  # all inside the graph
    assert engine.card.output.logits == "logits"
    assert engine.card.calibration.temperature == 1.5
    for n in (1, 5):  # the batch axis is dynamic (export traced a batch of 2)
        frames, _ = make_frames(n, 32)
        expected = p_synthetic(torch_logits(exported.net, frames), 1.5)
        np.testing.assert_allclose(engine.predict(frames), expected, atol=1e-4, rtol=0)


def test_file_is_checker_clean_opset_20_with_named_io(exported) -> None:
    model = onnx.load(exported.path)
    onnx.checker.check_model(model, full_check=True)
    assert {o.domain: o.version for o in model.opset_import}[""] == 20
    assert [i.name for i in model.graph.input] == ["frames"]
    assert [o.name for o in model.graph.output] == ["logits"]  # not a BinaryClassifier: no feature map
    assert read_card(model) == exported.card and exported.card.output.extra == {}
    assert not list(exported.path.parent.glob(".*tmp")) and not list(exported.path.parent.glob("*.data"))


def test_parity_failure_raises_and_leaves_no_file(tmp_path: Path, tiny_net, make_frames, monkeypatch) -> None:
    monkeypatch.setattr(export, "torch_logits", lambda model, frames: np.zeros((len(frames), 2)))
    frames, _ = make_frames(4, 32)
    path = tmp_path / "student.onnx"
    with pytest.raises(ExportError, match="max .p_onnx - p_torch."):
        export_student(tiny_net, path, name="s", version="1", frames=frames)
    assert list(tmp_path.iterdir()) == []


def test_a_given_graph_is_used_not_exported_again(tmp_path: Path, tiny_net, make_frames,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    graph = tmp_path / "labelling.onnx"
    export.save_onnx(export.export_onnx(tiny_net, 32, 32), graph)
    monkeypatch.setattr(export, "export_onnx", lambda *a: pytest.fail("exported again"))
    frames, _ = make_frames(4, 32)
    card = export_student(tiny_net, tmp_path / "s.onnx", name="s", version="1", frames=frames,
                          graph=graph)
    assert read_card(onnx.load(tmp_path / "s.onnx")) == card


def test_a_given_graph_of_another_net_fails_the_parity_check(tmp_path: Path, tiny_net, make_frames
                                                             ) -> None:
    other = copy.deepcopy(tiny_net)
    with torch.no_grad():
        other[-1].bias[0] += 1.0  # the authentic logit: every p_synthetic falls
    graph = tmp_path / "other.onnx"
    export.save_onnx(export.export_onnx(other, 32, 32), graph)
    frames, _ = make_frames(4, 32)
    with pytest.raises(ExportError, match="max .p_onnx - p_torch."):
        export_student(tiny_net, tmp_path / "s.onnx", name="s", version="1", frames=frames,
                       graph=graph)
    assert not (tmp_path / "s.onnx").exists()


def test_frames_must_be_uint8_nhwc(tmp_path: Path, tiny_net) -> None:
    with pytest.raises(ValueError, match="uint8"):
        export_student(tiny_net, tmp_path / "s.onnx", name="s", version="1",
                       frames=np.zeros((2, 3, 32, 32), np.float32))


def test_torch_logits_keeps_the_training_mode(tiny_net, make_frames) -> None:
    tiny_net.train()
    torch_logits(tiny_net, make_frames(2, 32)[0])
    assert tiny_net.training


def test_export_keeps_the_input_size_of_the_frames(tmp_path: Path, make_frames) -> None:
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, 2, 1), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(4, 2))
    frames = make_frames(70, 64)[0][:, :48]  # two parity chunks
    card = export_student(net, tmp_path / "s.onnx", name="s", version="1", frames=frames,
                          provenance={"student": {"params": 122}})
    assert (card.input.height, card.input.width) == (48, 64)
    assert Engine.load(tmp_path / "s.onnx", CPU).card.provenance == {"student": {"params": 122}}


def test_a_student_answers_where_it_looks_as_torch_does(exported_student, make_frames) -> None:
    """A BinaryClassifier's file has the attention output too, declared in its card, and both
    outputs match torch (the export checked them; here again on other frames)."""
    model = onnx.load(exported_student.path)
    assert [o.name for o in model.graph.output] == ["logits", "attention"]
    assert exported_student.card.output.extra == {"attention": "attention"}
    engine = Engine.load(exported_student.path, CPU, intra_op_threads=1)
    frames, _ = make_frames(5, 160)
    p, maps = engine.predict_with_attention(frames)
    np.testing.assert_allclose(p, p_synthetic(torch_logits(exported_student.net, frames), 1.0), atol=1e-4)
    expected = torch_attention(exported_student.net, frames)
    assert maps.shape == expected.shape == (5, 5, 5)  # 160 px at stride 32
    np.testing.assert_allclose(maps, expected, atol=1e-4, rtol=0)
    assert maps.min() >= 0 and np.allclose(maps.max(axis=(1, 2)), 1)
    np.testing.assert_array_equal(engine.predict(frames), p)  # logits alone: the same answer


def test_an_attention_map_that_differs_from_torch_fails_the_export(
    tmp_path: Path, make_frames, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "torch_attention", lambda model, frames: np.zeros((len(frames), 2, 2)))
    with pytest.raises(ExportError, match=r"max .attention_onnx - attention_torch. = 1 > 0.0001"):
        export_student(NETS.build("patchnet_s"), tmp_path / "s.onnx", name="s", version="1",
                       frames=make_frames(2, 64)[0])
    assert list(tmp_path.iterdir()) == []


def test_only_a_binary_classifier_has_a_map_to_export(tiny_net) -> None:
    with pytest.raises(ValueError, match="needs a BinaryClassifier's feature map, not a Sequential"):
        export.export_onnx(tiny_net, 32, 32, attention=True)
