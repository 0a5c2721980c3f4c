"""The FastAPI application: wiring only. Heavy objects are made in the lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from app.admission import Admission
from app.config import Settings
from app.contract.card import CardError
from app.deps import require_api_key
from app.http import MetricsMiddleware, error_responses, install_error_handlers
from app.inference.engine import Engine
from app.jobs.service import Jobs
from app.judges import make_judge
from app.metrics import Metrics
from app.routes import health, jobs, model, page, screen, stream
from app.screening import Screener
from app.video.decoders import decoder_from_settings

log = logging.getLogger("app")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the model, start the shared batchers and the decoder workers, warm up in the
    background."""
    settings: Settings = app.state.settings
    metrics: Metrics = app.state.metrics
    try:
        engine = Engine.from_settings(settings)
    except CardError as exc:
        log.error("cannot start: %s", exc)
        raise
    spec = engine.card.input
    metrics.model.info(
        {
            "name": engine.card.name,
            "version": engine.card.version,
            "providers": ",".join(engine.providers),
            "input": f"{spec.width}x{spec.height}",
        }
    )
    # Blocking work runs in asyncio.to_thread: a stream holds two threads for its life (its
    # demuxer and the chunk feeder), an upload one. The default pool (cpu + 4 threads) would
    # let a few open streams starve every other request, so size it for the admission limit.
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(2 * settings.max_active_requests + 4, thread_name_prefix="blocking"))
    # the shared batchers (behind the judge) and the decoder workers, for every client
    judge, decoder = make_judge(settings, engine, metrics), decoder_from_settings(settings, metrics)
    await asyncio.to_thread(decoder.start)
    await judge.start()
    app.state.engine = engine
    app.state.screener = Screener.from_settings(settings, engine.card, judge, decoder, metrics)
    app.state.admission = Admission(settings.max_active_requests, metrics)
    # jobs: the database (migrated), then the runner on the same screener, once warmed up
    app.state.jobs = await asyncio.to_thread(Jobs.open, settings)
    app.state.jobs.start(app.state.screener, app.state.ready)

    async def warm_up() -> None:
        await asyncio.to_thread(engine.warm_up, settings.warmup_batches, settings.max_batch_size)
        await asyncio.to_thread(judge.warm_up, settings.warmup_batches)
        app.state.ready.set()
        log.info("ready: %s %s on %s", engine.card.name, engine.card.version, engine.providers)

    warming = asyncio.create_task(warm_up())
    try:
        yield
    finally:
        warming.cancel()
        await app.state.jobs.stop()
        await judge.stop()
        await asyncio.to_thread(decoder.stop)


class Service(FastAPI):
    """The app; its OpenAPI describes the service as configured (API keys, frame limit)."""

    def openapi(self) -> dict[str, Any]:
        """FastAPI's schema, made once, with what the settings decide."""
        if self.openapi_schema is None:
            paths, settings = super().openapi()["paths"], self.state.settings
            if not settings.api_keys:  # the keyed routes also take no key (`{}`)
                for path in paths.values():
                    for operation in path.values():
                        if "security" in operation:
                            operation["security"].append({})
            screen.document_limits(paths, settings)
        return super().openapi()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; settings default to the `DISTILSCREEN_*` environment."""
    app = Service(
        title="distilscreen",
        version="0.1.0",
        lifespan=lifespan,
        summary="Screen video frames for synthetic content with a distilled ONNX student.",
    )
    app.state.settings = settings or Settings()
    app.state.metrics = Metrics()
    app.state.ready = asyncio.Event()
    install_error_handlers(app)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.include_router(health.router)
    keyed: dict[str, Any] = {
        "dependencies": [Depends(require_api_key)],
        "responses": error_responses({401: "API keys are set and the X-API-Key header is missing or wrong"}),
    }
    app.include_router(model.router, **keyed)
    app.include_router(screen.router, **keyed)
    app.include_router(jobs.router, **keyed)
    app.include_router(stream.router)  # checks its key itself: errors go over the socket
    app.include_router(page.router)  # the review page: open, it asks for the key it needs
    app.mount("/page/ort", page.ort_web, name="ort-web")  # before /page, which would take it
    app.mount("/page", page.assets, name="page")
    return app
