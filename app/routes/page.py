"""GET /: the review page, and its assets under /page/ (all served here: it works offline)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

PAGE = Path(__file__).resolve().parents[1] / "page"

router = APIRouter(include_in_schema=False)
assets = StaticFiles(directory=PAGE)


@router.get("/")
async def page() -> FileResponse:
    """The review page: upload or camera, the timeline, the frames, the model."""
    return FileResponse(PAGE / "index.html", media_type="text/html")
