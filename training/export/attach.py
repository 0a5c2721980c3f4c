"""Attach a model card to an ONNX classifier made elsewhere (a DeepfakeBench or SBI export),
so that the service serves it as is; then check the result on real photos.

`attach` reads what the graph tells (the input tensor, its dtype, layout and fixed height
and width; the logits tensor), fills in the rest from its arguments, and writes the file
only when every check passes: the card validates; the service's engine loads the file
(`app.contract.predictor.check_io`: the card's tensors, dtype and shape are the graph's);
a batch of two real photos (`sample_photos()`, cut as the card says: resized for a frame
crop, their faces found and cut by the service's detector and cropper for a face crop)
gives finite (2, 2) logits; and the optional known-synthetic / known-authentic images
score on their side of the threshold. Torch is not needed.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np
import onnx
from onnxruntime.capi.onnxruntime_pybind11_state import Fail, InvalidArgument, RuntimeException
from pydantic import ValidationError

from app.contract.card import ATTENTION, CLASSES, CardError, FaceCrop, FrameCrop, ModelCard
from app.contract.predictor import Predictor
from app.errors import explain
from app.faces.crops import combine
from app.faces.detector import FaceDetector
from app.faces.plan import DEFAULT_MAX_SIDE, FacePlan
from training.data.faces import face_crops
from training.modelfile.cardfile import attach_card
from training.modelfile.speed import CPU, load_engine

DETECTOR = "blazeface_full_range"
DTYPES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.UINT8: "uint8"}
ORT_ERRORS = (Fail, InvalidArgument, RuntimeException)


@functools.cache
def sample_photos() -> tuple[Path, ...]:
    """Two real face photos that ship in the training extra: skimage's astronaut (512 x 512)
    and matplotlib's Grace Hopper (512 x 600)."""
    import matplotlib.cbook
    import skimage.data

    return (
        Path(skimage.data.__file__).parent / "astronaut.png",
        Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)),
    )


class AttachError(ValueError):
    """A model the card cannot describe, or a check the carded model fails."""


@dataclass(frozen=True)
class Attached:
    """The written file, its card, and what the checks measured."""

    path: Path
    card: ModelCard
    providers: list[str]
    samples: dict[str, float]  # sample_photos() name -> p_synthetic
    checks: dict[str, tuple[str, float]] = field(default_factory=dict)  # image -> (expected, p)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A few readable lines: the card's essentials, then the measured probabilities."""
        card, spec = self.card, self.card.input
        crop = card.crop
        lines = [
            f"wrote {self.path}: {card.name} {card.version}",
            f"input {spec.name!r}: {spec.layout} {spec.dtype} {spec.height}x{spec.width} {spec.color}, "
            f"scale {spec.scale:.6g}, mean {spec.mean}, std {spec.std}",
            f"output {card.output.logits!r}: classes {', '.join(card.output.classes)}; "
            f"temperature {card.calibration.temperature:g}, threshold {card.calibration.threshold:g}",
            "crop: the whole frame, resized" if isinstance(crop, FrameCrop) else
            f"crop: faces by {crop.detector}, margin {crop.margin:g}, square {crop.square}, "
            f"at least {crop.min_face_px} px, at most {crop.max_faces}, combined by {crop.combine}",
            f"runs on {', '.join(self.providers)}; sample photos (authentic): "
            + ", ".join(f"{name} p={p:.4f}" for name, p in self.samples.items()),
        ]
        lines += [f"check {expected}: {image} p={p:.4f} (ok)" for image, (expected, p) in self.checks.items()]
        return "\n".join(lines + [f"note: {note}" for note in self.notes])


def attach(
    model: str | Path,
    out: str | Path,
    *,
    name: str | None = None,
    version: str = "1",
    input_name: str | None = None,
    layout: Literal["NCHW", "NHWC"] | None = None,
    height: int | None = None,
    width: int | None = None,
    color: Literal["RGB", "BGR"] = "RGB",
    scale: float | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    logits: str | None = None,
    classes: Sequence[str] = CLASSES,
    crop: Literal["frame", "face"] = "frame",
    margin: float | None = None,
    square: bool | None = None,
    min_face_px: int | None = None,
    max_faces: int | None = None,
    combine: Literal["max", "mean"] | None = None,
    temperature: float = 1.0,
    threshold: float = 0.5,
    check_synthetic: str | Path | None = None,
    check_authentic: str | Path | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> Attached:
    """Write `model` with a card to `out` (which may be `model`) and check it; see the module.

    Unset input fields come from the graph (the only input; dtype; layout where one of
    axes 1 and 3 is 3 and the other is not; fixed height and width), float input gets
    scale 1/255 and ImageNet mean and std, `logits` defaults to the only output (besides
    one named `attention`: this project's exports' heatmap, (N, h, w), then declared in the
    card's `output.extra`, never taken for the logits), and the face options (None: the
    card's defaults) apply only to `crop="face"`, whose size is the input's. Raises
    `AttachError` naming the field and the values, writing nothing."""
    model, out = Path(model), Path(out)
    proto = _load(model)
    tensor = _pick(proto.graph.input, input_name, "input", model, exclude=_initializers(proto))
    outputs = {o.name for o in proto.graph.output}
    heatmap = {ATTENTION: ATTENTION} if logits != ATTENTION and ATTENTION in outputs else {}
    logits_name = _pick(proto.graph.output, logits, "output", model, exclude=heatmap.values()).name
    spec = _input_spec(tensor, model, layout=layout, height=height, width=width, color=color,
                       scale=scale, mean=mean, std=std)
    face = {"margin": margin, "square": square, "min_face_px": min_face_px, "max_faces": max_faces,
            "combine": combine}
    card = _card(
        model,
        name=name or model.stem,
        version=version,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        input=spec,
        output={"logits": logits_name, "classes": tuple(classes), "extra": heatmap},
        crop=make_crop(model, crop, {k: v for k, v in face.items() if v is not None}, spec["height"]),
        calibration={"temperature": temperature, "threshold": threshold},
        provenance={"source": model.name, "source_sha256": _sha256(model),
                    "carded_by": "distilscreen card attach", **(provenance or {})},
    )
    attach_card(proto, card)
    staged = out.with_name(f".{out.name}.tmp")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        onnx.save(proto, staged)
        return _check(staged, model, out, check_synthetic, check_authentic)
    finally:
        staged.unlink(missing_ok=True)  # gone already when the checks passed


def _check(staged: Path, model: Path, out: Path, synthetic: str | Path | None,
           authentic: str | Path | None) -> Attached:
    try:
        engine = load_engine(staged, threads=1)
    except CardError as exc:  # check_io: the card's tensors, dtype or shape are not the graph's
        raise AttachError(f"{model}: {str(exc).removeprefix(f'{staged}: ')}") from exc
    except ORT_ERRORS as exc:
        raise AttachError(f"{model}: ONNX Runtime cannot load it: {exc}") from exc
    detector = FaceDetector.load(DETECTOR, CPU, 1) if isinstance(engine.card.crop, FaceCrop) else None
    inputs = {p.name: model_inputs(decode(p), engine.card, detector, p) for p in sample_photos()}
    raw = _run(engine, np.stack([x[0] for x in inputs.values()]), model)
    notes = []
    if np.all((raw >= 0) & (raw <= 1)) and np.allclose(raw.sum(axis=1), 1, atol=1e-4):
        notes.append("the outputs look like probabilities (rows sum to 1): the card expects logits, "
                     "and the service applies a softmax to them")
    samples = {name: judge(engine, x) for name, x in inputs.items()}
    threshold = engine.card.calibration.threshold
    checks = {}
    for expected, image in (("synthetic", synthetic), ("authentic", authentic)):
        if image is not None:
            p = judge(engine, model_inputs(decode(Path(image)), engine.card, detector, image))
            if (p >= threshold) != (expected == "synthetic"):
                raise AttachError(
                    f"{model}: {image} is known {expected} but scores p_synthetic={p:.4f} "
                    f"(threshold {threshold:g}): check output.classes {engine.card.output.classes}, "
                    "the colour order and the normalisation"
                )
            checks[str(image)] = (expected, p)
    staged.replace(out)
    return Attached(out, engine.card, engine.providers, samples, checks, notes)


def _run(engine: Predictor, batch: np.ndarray, model: Path) -> np.ndarray:
    """The logits of `batch`, which must be (N, 2) and finite."""
    try:
        raw = engine.logits(batch)
    except ORT_ERRORS as exc:
        raise AttachError(f"{model}: the model fails on a batch of {len(batch)} photos: {exc}") from exc
    logits = engine.card.output.logits
    if raw.shape != (len(batch), 2):
        raise AttachError(f"{model}: output {logits!r} has shape {raw.shape} for a batch of {len(batch)}; "
                          f"the card needs ({len(batch)}, 2) logits ordered as output.classes")
    if not np.all(np.isfinite(raw)):
        raise AttachError(f"{model}: output {logits!r} is not finite on the sample photos: {raw.tolist()}")
    return raw


def judge(engine: Predictor, inputs: np.ndarray) -> float:
    """p_synthetic of one picture from its `model_inputs`, as the service judges a frame:
    the whole frame's, or the `crop.combine` of its faces'."""
    p = engine.predict(inputs)
    crop = engine.card.crop
    return combine(p.tolist(), crop.combine) if isinstance(crop, FaceCrop) else float(p[0])


def model_inputs(picture: av.VideoFrame, card: ModelCard, detector: FaceDetector | None,
                 source: str | Path) -> np.ndarray:
    """uint8 (K, H, W, 3) in the card's colour order: the picture resized (K = 1), or each
    face the service would screen, cut as it cuts them (`training.data.faces.face_crops`;
    an error when there is none)."""
    spec = card.input
    if detector is None:
        pixels = picture.to_ndarray(width=spec.width, height=spec.height, format="rgb24")[None]
    else:
        crop = card.crop
        plan = FacePlan.make((picture.width, picture.height), crop, detector.spec, DEFAULT_MAX_SIDE)
        found = face_crops(picture, plan, detector)
        if not found:
            raise AttachError(f"{source}: {detector.name} finds no face of at least "
                              f"crop.min_face_px={crop.min_face_px} px")
        pixels = np.stack([pixels for _, pixels in found])
    return np.ascontiguousarray(pixels[..., ::-1]) if spec.color == "BGR" else pixels


def decode(path: Path) -> av.VideoFrame:
    """The first picture of an image (or video) file, by the service's decoder library."""
    try:
        with av.open(str(path)) as container:
            return next(container.decode(video=0)).reformat(format="rgb24")
    except (av.error.FFmpegError, StopIteration) as exc:
        raise AttachError(f"{path}: not a decodable image: {exc}") from exc


def sample_frames(height: int, width: int) -> np.ndarray:
    """`sample_photos()` resized to height x width: uint8 RGB (2, H, W, 3)."""
    return np.stack([decode(p).to_ndarray(width=width, height=height, format="rgb24")
                     for p in sample_photos()])


def _load(model: Path) -> onnx.ModelProto:
    if not model.is_file():
        raise FileNotFoundError(f"{model}: model file not found")
    try:
        return onnx.load(model)
    except Exception as exc:  # protobuf's DecodeError and friends: not an ONNX file
        raise AttachError(f"{model}: not an ONNX model: {exc}") from exc


def _initializers(proto: onnx.ModelProto) -> set[str]:
    """Names of weights, which older exporters also list as graph inputs."""
    return {t.name for t in proto.graph.initializer}


def _pick(values: Sequence[onnx.ValueInfoProto], wanted: str | None, kind: str, model: Path,
          exclude: Collection[str] = ()) -> onnx.ValueInfoProto:
    """The graph's `kind` tensor named `wanted`, or its only one."""
    tensors = {v.name: v for v in values if v.name not in exclude}
    if wanted is None:
        if len(tensors) != 1:
            raise AttachError(f"{model}: the graph has {len(tensors)} {kind}s {sorted(tensors)}: "
                              f"name the {'input' if kind == 'input' else 'logits'} tensor")
        return next(iter(tensors.values()))
    if wanted not in tensors:
        raise AttachError(f"{model}: {kind} {wanted!r} is not in the graph; its {kind}s: {sorted(tensors)}")
    return tensors[wanted]


def _input_spec(tensor: onnx.ValueInfoProto, model: Path, *, layout: str | None, height: int | None,
                width: int | None, color: str, scale: float | None, mean: Sequence[float] | None,
                std: Sequence[float] | None) -> dict[str, Any]:
    """The card's input fields from the graph's input tensor and the given values."""
    kind = tensor.type.tensor_type
    if kind.elem_type not in DTYPES:
        dtype, known = onnx.TensorProto.DataType.Name(kind.elem_type), " or ".join(DTYPES.values())
        raise AttachError(f"{model}: input {tensor.name!r} is {dtype}; a card takes {known}")
    shape = [d.dim_value if d.HasField("dim_value") else d.dim_param or "?" for d in kind.shape.dim]
    dims = [d if isinstance(d, int) else None for d in shape]
    if len(dims) != 4:
        raise AttachError(f"{model}: input {tensor.name!r} has shape {shape}; a card takes (N, 3, H, W) "
                          "or (N, H, W, 3) images")
    if dims[0] is not None:
        raise AttachError(f"{model}: input {tensor.name!r} has a fixed batch of {dims[0]} ({shape}); the "
                          "service runs batches of any size: export it with a dynamic batch axis")
    layout = layout or _layout(dims, shape, tensor.name, model)
    channels, rows, cols = dims[1:] if layout == "NCHW" else (dims[3], dims[1], dims[2])
    if channels not in (3, None):
        raise AttachError(f"{model}: input {tensor.name!r} ({shape}) has {channels} channels as {layout}; "
                          "a card takes 3 (RGB or BGR)")
    height, width = height or rows, width or cols
    if height is None or width is None:
        raise AttachError(f"{model}: input {tensor.name!r} ({shape}) has no fixed height and width: "
                          "give both")
    spec = {"name": tensor.name, "layout": layout, "dtype": DTYPES[kind.elem_type], "height": height,
            "width": width, "color": color}
    if spec["dtype"] == "uint8":  # the graph normalises: the card's defaults are for float input
        spec |= {"scale": 1, "mean": (0, 0, 0), "std": (1, 1, 1)}
    return spec | {k: v for k, v in {"scale": scale, "mean": mean, "std": std}.items() if v is not None}


def _layout(dims: list[int | None], shape: list[int | str], name: str, model: Path) -> str:
    channels_first, channels_last = dims[1] == 3, dims[3] == 3
    if channels_first != channels_last:
        return "NCHW" if channels_first else "NHWC"
    raise AttachError(f"{model}: the layout of input {name!r} ({shape}) is ambiguous: give it (NCHW or NHWC)")


def make_crop(model: str | Path, kind: str, face: Mapping[str, Any], size: int) -> FrameCrop | FaceCrop:
    """The card's crop: the whole frame, or faces by `DETECTOR` cut at `size` with the
    `face` options (the card's defaults for those not given)."""
    if kind not in ("frame", "face"):
        raise AttachError(f"{model}: crop must be 'frame' or 'face', got {kind!r}")
    if kind == "frame":
        if face:
            raise AttachError(f"{model}: crop 'frame' takes no face options, got {dict(face)}")
        return FrameCrop()
    try:
        return FaceCrop(kind="face", detector=DETECTOR, size=size, **face)
    except ValidationError as exc:
        errors = [e | {"loc": ("crop", *e["loc"])} for e in exc.errors()]
        raise AttachError(f"{model}: the card does not validate: {explain(errors)}") from exc


def _card(model: Path, **fields: Any) -> ModelCard:
    try:
        return ModelCard.model_validate(fields)
    except ValidationError as exc:
        raise AttachError(f"{model}: the card does not validate: {explain(exc.errors())}") from exc


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
