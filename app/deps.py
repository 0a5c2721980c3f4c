"""Typed dependencies: a route's signature says what it needs; tests can override them.

They take the `HTTPConnection`, so that the WebSocket route has the same ones as the HTTP
routes."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from pydantic import ValidationError
from starlette.requests import HTTPConnection

from app.admission import Admission
from app.config import Settings
from app.errors import InvalidOptions, NotReady, Unauthorized, explain
from app.inference.engine import Engine
from app.jobs.service import Jobs
from app.metrics import Metrics
from app.schemas import ScreenOptions
from app.screening import Screener

API_KEY_HEADER = "X-API-Key"
# The OpenAPI security scheme of the keyed routes; `Service.openapi` makes it optional when no keys are set.
_api_key = APIKeyHeader(
    name=API_KEY_HEADER,
    scheme_name="ApiKey",
    auto_error=False,
    description="one of DISTILSCREEN_API_KEYS; not needed when none are set",
)


async def get_settings(conn: HTTPConnection) -> Settings:
    return conn.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_metrics(conn: HTTPConnection) -> Metrics:
    return conn.app.state.metrics


MetricsDep = Annotated[Metrics, Depends(get_metrics)]


async def get_engine(conn: HTTPConnection) -> Engine:
    return conn.app.state.engine


EngineDep = Annotated[Engine, Depends(get_engine)]


async def screener_if_ready(conn: HTTPConnection) -> Screener | None:
    """The screener once the model has warmed up, None before."""
    return conn.app.state.screener if conn.app.state.ready.is_set() else None


ReadyScreenerDep = Annotated[Screener | None, Depends(screener_if_ready)]


async def get_screener(screener: ReadyScreenerDep) -> Screener:
    """The screener; while the model warms up, 503 with Retry-After."""
    if screener is None:
        raise NotReady("the model is still warming up", retry_after_s=1)
    return screener


ScreenerDep = Annotated[Screener, Depends(get_screener)]


async def get_admission(conn: HTTPConnection) -> Admission:
    return conn.app.state.admission


AdmissionDep = Annotated[Admission, Depends(get_admission)]


def screen_options(values: Mapping[str, str]) -> ScreenOptions:
    """Validate screening options; a broken rule is 422 `invalid_options`."""
    try:
        return ScreenOptions.model_validate(dict(values))
    except ValidationError as exc:
        raise InvalidOptions(explain(exc.errors())) from exc


async def get_query_options(request: Request) -> ScreenOptions:
    """The options of the query string (the route's OpenAPI declares them as one exploded object)."""
    return screen_options(request.query_params)


QueryOptionsDep = Annotated[ScreenOptions, Depends(get_query_options)]


def key_is_valid(settings: Settings, key: str | None) -> bool:
    """True when no keys are configured, or `key` is one of them (compared in constant time)."""
    if not settings.api_keys:
        return True
    offered = (key or "").encode()
    # compare against every key, so the time taken says nothing about which one matched
    matches = [hmac.compare_digest(offered, k.get_secret_value().encode()) for k in settings.api_keys]
    return any(matches)


async def get_jobs(conn: HTTPConnection) -> Jobs:
    return conn.app.state.jobs


JobsDep = Annotated[Jobs, Depends(get_jobs)]


async def key_owner(settings: SettingsDep, key: Annotated[str | None, Security(_api_key)]) -> str | None:
    """Who owns what a request makes: the SHA-256 of its API key (never the key); None when
    keys are off, and everything is everyone's."""
    return hashlib.sha256(key.encode()).hexdigest() if settings.api_keys and key else None


OwnerDep = Annotated[str | None, Depends(key_owner)]


async def require_api_key(settings: SettingsDep, key: Annotated[str | None, Security(_api_key)]) -> None:
    """When API keys are configured, the request must carry a valid one."""
    if not key_is_valid(settings, key):
        raise Unauthorized(f"a valid API key is required in the {API_KEY_HEADER} header")
