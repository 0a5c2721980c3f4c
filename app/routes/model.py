"""The loaded model's card and the providers it really runs on."""

from __future__ import annotations

from fastapi import APIRouter

from app.deps import EngineDep
from app.schemas import ModelInfo

router = APIRouter(prefix="/v1", tags=["model"])


@router.get("/model")
async def model_info(engine: EngineDep) -> ModelInfo:
    """The model card (name, version, input, calibration, provenance) and providers in use."""
    return ModelInfo(card=engine.card, providers=engine.providers)
