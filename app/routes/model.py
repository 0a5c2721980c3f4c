"""The loaded model's card and the providers it really runs on."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from app.deps import EngineDep
from app.schemas import ModelInfo

router = APIRouter(prefix="/v1", tags=["model"])


@router.get("/model")
async def model_info(engine: EngineDep) -> ModelInfo:
    """The model card (name, version, input, calibration, provenance) and providers in use."""
    return ModelInfo(card=engine.card, providers=engine.providers)


@router.get(
    "/model/onnx",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "the ONNX file"}},
)
async def model_file(engine: EngineDep) -> FileResponse:
    """The served model's ONNX file, card inside (the review page screens on the user's
    device with it)."""
    return FileResponse(engine.path, media_type="application/octet-stream", filename=engine.path.name)
