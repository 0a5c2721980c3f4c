"""The model card: the only contract between `training/` and the service.

Export writes it as JSON under one key of the ONNX file's `metadata_props`; the service
reads it at start and derives all preprocessing from it, so train/serve skew cannot creep in.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app.errors import explain
from app.faces.registry import DETECTORS

CARD_KEY = "distilscreen.card"
CLASSES = ("authentic", "synthetic")
ATTENTION = "attention"  # `output.extra`'s meaning of a spatial map of where the model looks


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSpec(_Strict):
    """How frames become the model's input tensor.

    float32: x = (pixel * scale - mean) / std, laid out as `layout`. uint8: the decoded
    pixels themselves (the graph scales and normalises them, so scale, mean and std must be
    1, 0 and 1: the service applies none)."""

    name: str
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    dtype: Literal["float32", "uint8"] = "float32"
    height: int = Field(gt=0, le=4096)
    width: int = Field(gt=0, le=4096)
    color: Literal["RGB", "BGR"] = "RGB"
    scale: float = Field(1 / 255, gt=0)
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    @model_validator(mode="after")
    def _valid_normalisation(self) -> InputSpec:
        if min(self.std) <= 0:
            raise ValueError(f"std must be positive, got {self.std}")
        if self.dtype == "uint8" and (self.scale, self.mean, self.std) != (1, (0, 0, 0), (1, 1, 1)):
            raise ValueError(
                "a uint8 input takes the pixels as decoded: scale must be 1, mean (0, 0, 0) and "
                f"std (1, 1, 1), got {self.scale}, {self.mean}, {self.std}"
            )
        return self

    @property
    def shape(self) -> tuple[int, int, int]:
        """The input tensor's shape after the batch axis."""
        if self.layout == "NCHW":
            return (3, self.height, self.width)
        return (self.height, self.width, 3)


class OutputSpec(_Strict):
    """The logits tensor and its class order, and the graph's extra outputs by meaning.

    `extra` maps a meaning to an output's name: `attention` is a map (N, h, w) in [0, 1] of
    where the model looks in each frame (its input's spatial grid, e.g. 5 x 5), served as
    heatmaps on request; the service ignores other meanings. A list of names, as cards
    written before extras had meanings hold, names each output by itself."""

    logits: str
    classes: tuple[str, str] = CLASSES
    extra: dict[str, str] = Field(default_factory=dict)

    @field_validator("extra", mode="before")
    @classmethod
    def _named_by_meaning(cls, extra: Any) -> Any:
        return {name: name for name in extra} if isinstance(extra, list) else extra

    @model_validator(mode="after")
    def _known_classes(self) -> OutputSpec:
        if sorted(self.classes) != sorted(CLASSES):
            raise ValueError(f"classes must be {CLASSES} in some order, got {self.classes}")
        return self

    @property
    def synthetic_index(self) -> int:
        return self.classes.index("synthetic")

    @property
    def attention(self) -> str | None:
        """The name of the heatmap output, None for a model without one."""
        return self.extra.get(ATTENTION)


class FrameCrop(_Strict):
    """The whole frame, resized to the input size."""

    kind: Literal["frame"] = "frame"


class FaceCrop(_Strict):
    """Faces found by `detector`, each cut as a box scaled by `margin` about its centre
    (made square first when `square`), resized to `size` x `size` (the input's size).
    Faces narrower than `min_face_px` source pixels are not screened; at most `max_faces`
    per frame, the highest-scored first. The frame's p_synthetic is the `combine` of its
    faces' probabilities."""

    kind: Literal["face"]
    detector: str
    margin: float = Field(1.3, ge=1.0, le=4.0)
    square: bool = True
    size: int = Field(gt=0, le=1024)
    min_face_px: int = Field(40, ge=8, le=4096)
    max_faces: int = Field(8, ge=1, le=64)
    combine: Literal["max", "mean"] = "max"

    @field_validator("detector")
    @classmethod
    def _known_detector(cls, name: str) -> str:
        if name not in DETECTORS:
            raise ValueError(f"unknown detector {name!r}; choices: {sorted(DETECTORS)}")
        return name


Crop = Annotated[FrameCrop | FaceCrop, Field(discriminator="kind")]


class Calibration(_Strict):
    """Temperature applied to the logits, and the decision threshold on p_synthetic."""

    temperature: float = Field(1.0, gt=0)
    threshold: float = Field(0.5, gt=0, lt=1)


class ModelCard(_Strict):
    """Everything the service needs to know about a model, and where it came from."""

    schema_version: Literal[1, 2] = 2  # 2 added `crop`; a version-1 card is a frame model
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    created: str
    config_hash: str = ""
    data_hash: str = ""
    input: InputSpec
    output: OutputSpec
    crop: Crop = FrameCrop()
    calibration: Calibration = Calibration()
    provenance: dict[str, Any] = Field(
        default_factory=dict,
        description="teachers, student params/FLOPs, evaluation figures (free-form)",
    )

    @model_validator(mode="after")
    def _crop_fits_input(self) -> ModelCard:
        crop = self.crop
        if isinstance(crop, FaceCrop):
            if self.schema_version < 2:
                raise ValueError("crop: a face crop needs schema_version 2")
            if (crop.size, crop.size) != (self.input.height, self.input.width):
                raise ValueError(
                    f"crop.size {crop.size} must equal the input's height and width "
                    f"({self.input.height}x{self.input.width})"
                )
        return self

    def to_json(self) -> str:
        return self.model_dump_json()


class CardError(ValueError):
    """A model file has no card, or a card that does not validate."""


def parse_card(metadata: dict[str, str], source: str) -> ModelCard:
    """Validate the card in an ONNX file's metadata; errors name the file and the field."""
    raw = metadata.get(CARD_KEY)
    if raw is None:
        raise CardError(f"{source}: no model card (metadata key {CARD_KEY!r} is missing)")
    try:
        return ModelCard.model_validate(json.loads(raw))
    except json.JSONDecodeError as exc:
        raise CardError(f"{source}: model card is not valid JSON: {exc}") from exc
    except ValidationError as exc:
        raise CardError(f"{source}: invalid model card: {explain(exc.errors())}") from exc
