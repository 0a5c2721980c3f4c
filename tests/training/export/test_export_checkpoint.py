"""`distilscreen export --checkpoint`: a state dict of a registered net becomes a served
model that matches torch; a state dict that does not fit is refused naming its keys."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from app.inference.engine import Engine
from training import cli
from training.export.attach import attach, sample_frames
from training.export.checkpoint import load_weights
from training.modelfile.exporter import torch_logits
from training.nets import NETS
from training.scoring.calibrate import p_synthetic

CPU = ["CPUExecutionProvider"]
SIZE = 64
pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec:FutureWarning")  # torch's exporter


def test_a_checkpoint_exports_to_a_face_model_that_matches_torch(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:
    net = NETS.build("patchnet_s").eval()
    torch.save({"model": net.state_dict()}, tmp_path / "sbi.pt")  # wrapped, as training scripts save
    out = tmp_path / "served" / "sbi.onnx"
    assert cli.main(["export", "--checkpoint", str(tmp_path / "sbi.pt"), "--arch", "patchnet_s",
                     "--size", str(SIZE), "--to", str(out), "--crop", "face", "--margin", "1.4",
                     "--temperature", "1.2", "--version", "0.1"]) == 0
    assert f"wrote {out}: sbi 0.1, patchnet_s at {SIZE} px, crop face" in capsys.readouterr().out
    engine = Engine.load(out, CPU, intra_op_threads=1)
    card = engine.card
    assert (card.crop.kind, card.crop.size, card.crop.margin, card.calibration.temperature) == ("face", SIZE,
                                                                                               1.4, 1.2)
    assert card.provenance == {"arch": "patchnet_s", "checkpoint": "sbi.pt"}
    noise = np.random.default_rng(0).integers(0, 256, (3, SIZE, SIZE, 3), dtype=np.uint8)
    frames = np.concatenate([sample_frames(SIZE, SIZE), noise])
    expected = p_synthetic(torch_logits(net, frames), 1.2)
    assert np.max(np.abs(engine.predict(frames) - expected)) <= 1e-4
    recarded = attach(out, tmp_path / "recarded.onnx", crop="face", margin=1.4).card  # uint8 NHWC read
    assert recarded.input == card.input and recarded.crop == card.crop
    assert recarded.output == card.output and card.output.attention == "attention"  # the map kept, declared


def test_a_state_dict_that_does_not_fit_names_its_keys() -> None:
    net = NETS.build("patchnet_s")
    state = net.state_dict()
    first = next(iter(state))
    state["extra.weight"] = torch.zeros(1)
    state["fc.weight"] = torch.zeros(2, 7)
    del state[first]
    message = (rf"sbi.pt: the state dict does not fit: 1 missing \(first: {first}\); 1 unexpected "
               r"\(first: extra.weight\); 1 of another shape "
               r"\(first: fc.weight \(2, 7\) \(the net's \(2, 128\)\)\)")
    with pytest.raises(ValueError, match=message):
        load_weights(net, state, "sbi.pt")
    with pytest.raises(ValueError, match="sbi.pt: not a state dict"):
        load_weights(net, [1, 2], "sbi.pt")


def test_export_refuses_mixed_or_incomplete_arguments(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    torch.save(NETS.build("patchnet_s").state_dict(), tmp_path / "m.pt")
    for argv, message in [
        (["export", str(tmp_path), "--arch", "patchnet_s"], "; --arch apply only to --checkpoint"),
        (["export", "--checkpoint", str(tmp_path / "m.pt"), "--arch", "patchnet_s"],
         "needs --arch and --size"),
        (["export", "--checkpoint", str(tmp_path / "m.pt"), "--arch", "patchnet", "--size", "64"],
         "unknown net 'patchnet'"),
        (["export", "--checkpoint", str(tmp_path / "m.pt"), "--arch", "patchnet_s", "--size", "64",
          "--margin", "1.5"], "crop 'frame' takes no face options"),
    ]:
        assert cli.main(argv) == 2, argv
        assert message in capsys.readouterr().err
