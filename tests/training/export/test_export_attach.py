"""training/export/attach.py and `distilscreen card`: a card attached to an ONNX classifier made
elsewhere (a torch net outside the registry, exported by torch itself, normalised outside
its graph) is served by the service's engine exactly as a direct ONNX Runtime run with
the normalisation done by hand; what the card cannot describe is refused by name."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import av
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from skimage import data
from torch import nn

from app import cli as app_cli
from app.config import Settings
from app.contract.card import FaceCrop
from app.inference.engine import Engine
from app.main import create_app
from tests.helpers import encode_frames, face_scene, independent_crop, running_client
from training import cli
from training.export.attach import AttachError, attach, sample_frames, sample_photos
from training.modelfile.cardfile import read_card

CPU = ["CPUExecutionProvider"]
SIZE = 64
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec:FutureWarning")  # torch's exporter


class ForeignNet(nn.Module):
    """A detector as others write them: ImageNet-normalised float NCHW in, `classes` logits out."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(16, classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(images))


def export_foreign(path: Path, classes: int) -> Path:
    """The net exported the way its authors would: torch's dynamo exporter, batch axis dynamic."""
    torch.manual_seed(classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            ForeignNet(classes).eval(), (torch.randn(2, 3, SIZE, SIZE),), input_names=["images"],
            output_names=["scores"], dynamic_shapes=({0: torch.export.Dim("batch")},), opset_version=20,
            dynamo=True, external_data=False, verbose=False,
        )
    program.save(str(path))
    return path


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_foreign(tmp_path_factory.mktemp("foreign") / "detector.onnx", 2)


@pytest.fixture(scope="module")
def three_class(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_foreign(tmp_path_factory.mktemp("foreign") / "three.onnx", 3)


def frames(n: int) -> np.ndarray:
    """The two sample photos and n - 2 noise frames, uint8 RGB (n, SIZE, SIZE, 3)."""
    noise = np.random.default_rng(n).integers(0, 256, (n - 2, SIZE, SIZE, 3), dtype=np.uint8)
    return np.concatenate([sample_frames(SIZE, SIZE), noise])


def by_hand(model: Path, pixels: np.ndarray, temperature: float, synthetic: int) -> np.ndarray:
    """p_synthetic from a plain ONNX Runtime session, normalising as the detector's authors do."""
    x = ((pixels / 255.0 - IMAGENET_MEAN) / IMAGENET_STD).astype(np.float32).transpose(0, 3, 1, 2)
    session = ort.InferenceSession(str(model), providers=CPU)
    z = session.run(["scores"], {"images": np.ascontiguousarray(x)})[0].astype(np.float64) / temperature
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return (p / p.sum(axis=1, keepdims=True))[:, synthetic]


@pytest.mark.parametrize("classes", [("authentic", "synthetic"), ("synthetic", "authentic")])
def test_engine_serves_it_as_onnxruntime_runs_it(foreign: Path, tmp_path: Path, classes) -> None:
    out = tmp_path / "carded.onnx"
    result = attach(foreign, out, name="foreign", version="2", classes=classes, temperature=1.5,
                    threshold=0.4)
    card = read_card(onnx.load(out), str(out))
    assert card == result.card
    spec = card.input
    assert (spec.name, spec.layout, spec.dtype, spec.height, spec.width, spec.color) == (
        "images", "NCHW", "float32", SIZE, SIZE, "RGB")
    assert spec.scale == pytest.approx(1 / 255) and spec.mean == tuple(IMAGENET_MEAN.astype(float).round(3))
    assert (card.output.logits, card.output.classes, card.crop.kind) == ("scores", classes, "frame")
    assert (card.calibration.temperature, card.calibration.threshold) == (1.5, 0.4)
    assert card.provenance["source"] == "detector.onnx" and len(card.provenance["source_sha256"]) == 64
    assert onnx.load(out).graph == onnx.load(foreign).graph  # the graph is served as is
    engine = Engine.load(out, CPU, intra_op_threads=1)
    pixels = frames(5)
    expected = by_hand(foreign, pixels, 1.5, classes.index("synthetic"))
    assert np.max(np.abs(engine.predict(pixels) - expected)) <= 1e-6
    assert set(result.samples) == {p.name for p in sample_photos()}
    assert list(result.samples.values()) == pytest.approx(list(expected[:2]), abs=1e-6)


def test_a_face_crop_judges_the_faces_the_service_cuts(foreign: Path, tmp_path: Path) -> None:
    result = attach(foreign, tmp_path / "faces.onnx", crop="face", margin=1.5, max_faces=2, combine="mean",
                    square=False, min_face_px=48)
    assert result.card.crop == FaceCrop(kind="face", detector="blazeface_full_range", size=SIZE, margin=1.5,
                                        square=False, min_face_px=48, max_faces=2, combine="mean")
    assert all(0 < p < 1 for p in result.samples.values())
    assert "faces by blazeface_full_range, margin 1.5, square False" in result.summary()


def test_an_attached_face_model_is_served_like_a_direct_run_on_independent_crops(
    foreign: Path, tmp_path: Path
) -> None:
    out = tmp_path / "served.onnx"
    attach(foreign, out, crop="face", margin=1.4)
    frames = [face_scene((480, 320), 90, (40 + 60 * i, 60 + 20 * i), data.rocket())[0] for i in range(4)]
    video = encode_frames(tmp_path / "faces.mp4", frames)
    settings = Settings(model_path=out, providers=CPU, intra_op_threads=1, warmup_batches=1, api_keys=[])
    clients = running_client(create_app(settings))
    response = next(clients).post("/v1/screen", content=video.read_bytes(),
                                  headers={"content-type": "video/mp4"})
    clients.close()
    assert response.status_code == 200, response.text
    answered = response.json()["frames"]
    assert [len(f["faces"]) for f in answered] == [1, 1, 1, 1]
    with av.open(str(video)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    crops = np.stack([independent_crop(decoded[f["index"]], f["faces"][0]["box"], 1.4, SIZE)
                      for f in answered])
    served = [f["p_synthetic"] for f in answered]
    np.testing.assert_allclose(served, by_hand(foreign, crops, 1.0, 1), atol=1e-6)


def test_known_images_must_score_on_their_side(foreign: Path, tmp_path: Path) -> None:
    astronaut = sample_photos()[0]
    out = tmp_path / "checked.onnx"
    kept = attach(foreign, out, threshold=0.99, check_authentic=astronaut)
    assert kept.checks == {str(astronaut): ("authentic", kept.samples["astronaut.png"])}
    with pytest.raises(AttachError, match=r"astronaut.png is known synthetic but scores p_synthetic=0\.\d{4} "
                                          r"\(threshold 0.99\): check output.classes"):
        attach(foreign, tmp_path / "refused.onnx", threshold=0.99, check_synthetic=astronaut)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checked.onnx"]


def test_weights_in_an_external_file_end_up_inside_and_in_place_works(foreign: Path, tmp_path: Path) -> None:
    model = tmp_path / "external.onnx"
    onnx.save(onnx.load(foreign), model, save_as_external_data=True, location="external.onnx.data",
              size_threshold=0)
    assert attach(model, model).path == model  # carded in place
    (tmp_path / "external.onnx.data").unlink()
    assert Engine.load(model, CPU, intra_op_threads=1).predict(frames(3)) == pytest.approx(
        by_hand(foreign, frames(3), 1.0, 1), abs=1e-6)


def fixed_batch(foreign: Path, tmp_path: Path) -> Path:
    model = onnx.load(foreign)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    onnx.save(model, tmp_path / "batch1.onnx")
    return tmp_path / "batch1.onnx"


def with_softmax(foreign: Path, tmp_path: Path) -> Path:
    """The detector with a second output, its softmax (as some exports end)."""
    model = onnx.load(foreign)
    model.graph.node.append(onnx.helper.make_node("Softmax", ["scores"], ["probs"], axis=1))
    probs = onnx.helper.make_tensor_value_info("probs", onnx.TensorProto.FLOAT, ["batch", 2])
    model.graph.output.append(probs)
    onnx.checker.check_model(model)
    onnx.save(model, tmp_path / "softmax.onnx")
    return tmp_path / "softmax.onnx"


def test_two_outputs_need_the_logits_named_and_probabilities_are_noted(foreign: Path, tmp_path: Path) -> None:
    model = with_softmax(foreign, tmp_path)
    with pytest.raises(AttachError, match=r"the graph has 2 outputs \['probs', 'scores'\]: name the logits"):
        attach(model, tmp_path / "out.onnx")
    assert attach(model, tmp_path / "logits.onnx", logits="scores").notes == []
    noted = attach(model, tmp_path / "probs.onnx", logits="probs")
    assert noted.notes == ["the outputs look like probabilities (rows sum to 1): the card expects logits, "
                           "and the service applies a softmax to them"]
    assert "note: the outputs look like probabilities" in noted.summary()


@pytest.mark.parametrize(("options", "message"), [
    ({"input_name": "pixels"}, r"input 'pixels' is not in the graph; its inputs: \['images'\]"),
    ({"logits": "probs"}, r"output 'probs' is not in the graph; its outputs: \['scores'\]"),
    ({"height": 96, "width": 96}, r"model input shape \['batch', 3, 64, 64\] does not match the card's "
                                  r"\[N, \[3, 96, 96\]\]"),
    ({"layout": "NHWC"}, r"input 'images' \(\['batch', 3, 64, 64\]\) has 64 channels as NHWC; "
                         "a card takes 3"),
    ({"margin": 1.5}, r"crop 'frame' takes no face options, got \{'margin': 1.5\}"),
    ({"crop": "face", "margin": 0.5}, r"card does not validate: crop.margin: Input should be greater than or "
                                      "equal to 1"),
    ({"crop": "face", "width": 48}, r"crop.size 64 must equal the input's height and width \(64x48\)"),
    ({"crop": "face", "min_face_px": 400}, r"astronaut.png: blazeface_full_range finds no face of at least "
                                           r"crop.min_face_px=400 px"),
    ({"crop": "oval"}, r"crop must be 'frame' or 'face', got 'oval'"),
    ({"classes": ("real", "fake")}, r"output: .*classes must be \('authentic', 'synthetic'\) in some order"),
    ({"mean": (0.5, 0.5)}, r"input.mean.2: Field required"),
])
def test_what_the_card_cannot_describe_is_refused_by_name(foreign: Path, tmp_path: Path, options,
                                                          message) -> None:
    with pytest.raises(AttachError, match=message):
        attach(foreign, tmp_path / "out.onnx", **options)
    assert list(tmp_path.iterdir()) == []


def test_graphs_the_service_cannot_batch_or_read_are_refused(foreign: Path, three_class: Path,
                                                             tmp_path: Path) -> None:
    with pytest.raises(AttachError, match=r"output 'scores' has shape \(2, 3\) for a batch of 2; the card "
                                          r"needs \(2, 2\) logits"):
        attach(three_class, tmp_path / "out.onnx")
    with pytest.raises(AttachError, match=r"input 'images' has a fixed batch of 1 \(\[1, 3, 64, 64\]\); "
                                          "the service runs batches of any size"):
        attach(fixed_batch(foreign, tmp_path), tmp_path / "out.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(AttachError, match="junk.onnx: not an ONNX model"):
        attach(tmp_path / "junk.onnx", tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()


def test_card_commands(foreign: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "served.onnx"
    assert cli.main(["card", "attach", str(foreign), "--out", str(out), "--crop", "face", "--size", "64",
                     "--scale", "1/255", "--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5", "--color", "BGR",
                     "--classes", "synthetic,authentic", "--name", "sbi", "--version", "0.3"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}: sbi 0.3" in printed and "astronaut.png p=0." in printed
    assert app_cli.main(["card", "show", str(out)]) == 0  # the `distilscreen card` entry point
    card = json.loads(capsys.readouterr().out)
    assert card["input"] | {"scale": 1 / 255} == {
        "name": "images", "layout": "NCHW", "dtype": "float32", "height": 64, "width": 64, "color": "BGR",
        "scale": 1 / 255, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}
    assert (card["output"]["classes"], card["crop"]["kind"]) == (["synthetic", "authentic"], "face")
    assert cli.main(["card", "attach", str(foreign), "--out", str(out), "--input", "x"]) == 2
    assert "input 'x' is not in the graph" in capsys.readouterr().err
    assert cli.main(["card", "show", str(foreign)]) == 2
    assert "no model card" in capsys.readouterr().err
