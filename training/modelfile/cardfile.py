"""Write and read the model card inside an ONNX file (the contract with the service)."""

from __future__ import annotations

import onnx

from app.contract.card import CARD_KEY, ModelCard, parse_card


def attach_card(model: onnx.ModelProto, card: ModelCard) -> onnx.ModelProto:
    """Store `card` as JSON under the card key of the model's metadata_props (replacing any)."""
    kept = [p for p in model.metadata_props if p.key != CARD_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    onnx.helper.set_model_props(model, {CARD_KEY: card.to_json()} | {p.key: p.value for p in kept})
    return model


def read_card(model: onnx.ModelProto, source: str = "<model>") -> ModelCard:
    """The validated card of an ONNX model."""
    return parse_card({p.key: p.value for p in model.metadata_props}, source)
