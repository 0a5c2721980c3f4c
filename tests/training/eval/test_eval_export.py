"""training/export.py: the exported file is accepted by the service's engine and matches
torch; a parity failure leaves no file; FP16/INT8 variants are gated on speed and AUC."""

import copy
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

import training.export as export
from app.inference.engine import Engine
from training.calibrate import p_synthetic
from training.cardfile import read_card
from training.export import ExportError, build_variant, export_student, select_variants, torch_logits

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
    assert [o.name for o in model.graph.output] == ["logits"]
    assert read_card(model) == exported.card
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


def _copy(exported, tmp_path: Path) -> Path:
    path = tmp_path / "model.onnx"
    path.write_bytes(exported.path.read_bytes())
    return path


def test_variants_kept_only_when_faster_and_as_good(
    exported, make_frames, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _copy(exported, tmp_path)
    frames, labels = make_frames(24, 32)
    # timings made up so the decision is deterministic: fp16 slower, int8 twice as fast
    monkeypatch.setattr(export, "compare_speed", lambda paths, **kw: [100.0, 90.0, 200.0])
    decision = select_variants(path, calibration_frames=frames[:8], test_frames=frames, test_labels=labels,
                               threads=1)
    by_name = {v.name: v for v in decision.variants}
    assert [v.name for v in decision.variants] == ["fp32", "fp16", "int8"]
    assert not by_name["fp16"].kept and "under 1.05x" in by_name["fp16"].reason
    assert by_name["int8"].kept and by_name["int8"].auc == pytest.approx(1.0)
    assert decision.chosen == "int8"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.int8.onnx", "model.onnx"]
    int8 = Engine.load(tmp_path / "model.int8.onnx", CPU, intra_op_threads=1)
    assert int8.card == exported.card
    assert any(n.op_type == "QuantizeLinear" for n in onnx.load(tmp_path / "model.int8.onnx").graph.node)
    assert decision.as_dict()["chosen"] == "int8"


def test_variants_measured_for_real_and_gated_on_auc(exported, make_frames, tmp_path: Path) -> None:
    path = _copy(exported, tmp_path)
    frames, labels = make_frames(16, 32)
    decision = select_variants(path, calibration_frames=frames[:4], test_frames=frames, test_labels=labels,
                               threads=1, batch_size=4, seconds=0.05, max_auc_drop=-1.0)
    assert all(v.frames_per_s > 0 for v in decision.variants)
    assert [v.kept for v in decision.variants] == [True, False, False]  # every drop is > -1
    assert decision.chosen == "fp32" and [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_fp16_variant_keeps_the_uint8_input_and_the_card(exported, make_frames, tmp_path: Path) -> None:
    frames, _ = make_frames(6, 32)
    build_variant(exported.path, tmp_path / "fp16.onnx", "fp16", frames)
    model = onnx.load(tmp_path / "fp16.onnx")
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)
    fp16 = Engine.load(tmp_path / "fp16.onnx", CPU, intra_op_threads=1)
    fp32 = Engine.load(exported.path, CPU, intra_op_threads=1)
    assert fp16.card == exported.card
    np.testing.assert_allclose(fp16.predict(frames), fp32.predict(frames), atol=1e-2)


def test_unknown_variant_is_refused(exported, make_frames) -> None:
    frames, labels = make_frames(4, 32)
    with pytest.raises(ValueError, match="unknown variants"):
        select_variants(exported.path, calibration_frames=frames, test_frames=frames, test_labels=labels,
                        variants=("bf16",))


def test_export_keeps_the_input_size_of_the_frames(tmp_path: Path, make_frames) -> None:
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, 2, 1), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(4, 2))
    frames = make_frames(70, 64)[0][:, :48]  # two parity chunks
    card = export_student(net, tmp_path / "s.onnx", name="s", version="1", frames=frames,
                          provenance={"student": {"params": 122}})
    assert (card.input.height, card.input.width) == (48, 64)
    assert Engine.load(tmp_path / "s.onnx", CPU).card.provenance == {"student": {"params": 122}}
