"""GET /: the review page, and its assets under /page/ (all served here: it works offline).

ONNX Runtime Web (npm: `app/npm/`, installed by the Makefile with `npm ci`) is served
under /page/ort/ for the page's "on this device" mode; without it that mode says so. The
page is cross-origin isolated (COOP + COEP), which lets ORT's WebAssembly use threads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

PAGE = Path(__file__).resolve().parents[1] / "page"
ORT_WEB = PAGE.parent / "npm" / "node_modules" / "onnxruntime-web" / "dist"
ISOLATED = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"}



class IsolatedFiles(StaticFiles):
    """Static files that an isolated page may load, into its workers too (these need COEP
    of their own)."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers.update(ISOLATED | {"Cross-Origin-Resource-Policy": "same-origin"})
        return response


router = APIRouter(include_in_schema=False)
assets = IsolatedFiles(directory=PAGE)
ort_web = IsolatedFiles(directory=ORT_WEB, check_dir=False)


@router.get("/")
async def page() -> FileResponse:
    """The review page: upload or camera, the timeline, the frames, the model."""
    return FileResponse(PAGE / "index.html", media_type="text/html", headers=ISOLATED)
