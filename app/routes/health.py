"""Liveness, readiness and Prometheus metrics: open even when API keys are set."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "model not loaded or warming up"}})
async def readyz(request: Request) -> JSONResponse:
    """The model is loaded and warmed up."""
    ready = request.app.state.ready.is_set()
    return JSONResponse({"status": "ready" if ready else "warming_up"}, status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus text format."""
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
