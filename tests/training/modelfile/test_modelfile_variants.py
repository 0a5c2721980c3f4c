"""training/modelfile/variants.py: FP16/INT8 variants are gated on speed and AUC, and keep the
uint8 input and the card."""

from pathlib import Path

import numpy as np
import onnx
import pytest

import training.modelfile.variants as variants
from app.inference.engine import Engine
from tests.training.modelfile.conftest import assert_answers_like
from training.modelfile.variants import build_variant, select_variants

CPU = ["CPUExecutionProvider"]


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
    monkeypatch.setattr(variants, "compare_speed", lambda paths, **kw: [100.0, 90.0, 200.0])
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


@pytest.mark.parametrize(("variant", "tolerance"), [("fp16", 0.01), ("int8", 0.1)])
def test_variants_keep_the_attention_output(exported_student, make_frames, tmp_path: Path, variant: str,
                                            tolerance: float) -> None:
    frames, _ = make_frames(16, 160)
    build_variant(exported_student.path, tmp_path / f"s.{variant}.onnx", variant, frames[:8])
    fp32, built = (Engine.load(p, CPU, intra_op_threads=1) for p in (exported_student.path,
                                                                    tmp_path / f"s.{variant}.onnx"))
    assert built.card == exported_student.card  # the card still names the map, and the graph has it
    assert_answers_like(built, fp32, frames, tolerance)
