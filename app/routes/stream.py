"""WS /v1/stream: live screening of encoded images or a byte stream (`app.stream.protocol`)."""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Annotated

from fastapi import APIRouter, Header, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from app.deps import API_KEY_HEADER, AdmissionDep, MetricsDep, ReadyScreenerDep, SettingsDep, key_is_valid
from app.errors import Overloaded
from app.stream.protocol import CloseCode, StreamClosed
from app.stream.session import ClientGone, StreamSession

router = APIRouter(prefix="/v1", tags=["stream"])
log = logging.getLogger(__name__)
# Browsers cannot set headers on a WebSocket: they offer the subprotocol `distilscreen` and
# the key as `distilscreen.key.<base64url of the key>`, as Kubernetes takes bearer tokens.
SUBPROTOCOL = "distilscreen"
KEY_SUBPROTOCOL = "distilscreen.key."


def offered_key(subprotocols: list[str]) -> str | None:
    """The API key offered as a subprotocol, if any (None when it does not decode)."""
    for offered in subprotocols:
        if offered.startswith(KEY_SUBPROTOCOL):
            encoded = offered.removeprefix(KEY_SUBPROTOCOL)
            try:
                return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
    return None


@router.websocket("/stream")
async def stream(
    websocket: WebSocket,
    settings: SettingsDep,
    metrics: MetricsDep,
    admission: AdmissionDep,
    screener: ReadyScreenerDep,
    key: Annotated[str | None, Header(alias=API_KEY_HEADER)] = None,
) -> None:
    """Screen a live stream; every answer and error is a JSON text message, see the protocol.
    Refusals (key, readiness, overload) come over the accepted socket, as fatal errors. The
    key comes in the `X-API-Key` header, or (browsers) as a subprotocol."""
    subprotocols = websocket.scope.get("subprotocols", [])
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in subprotocols else None)
    try:
        if not key_is_valid(settings, key or offered_key(subprotocols)):
            raise StreamClosed("unauthorized", f"a valid {API_KEY_HEADER} header is required")
        if screener is None:
            metrics.rejected.labels("not_ready").inc()
            raise StreamClosed("not_ready", "the model is still warming up")
        try:
            with admission.admit("stream"):
                session = StreamSession(
                    websocket, screener, settings.max_stream_in_flight, settings.stream_idle_timeout_s,
                    settings.stream_max_lag_s,
                )
                await session.run()
        except Overloaded as exc:
            raise StreamClosed(exc.code, exc.message) from exc
        await websocket.close(CloseCode.NORMAL)
    except StreamClosed as closed:
        metrics.errors.labels(closed.error.code).inc()
        if websocket.client_state == WebSocketState.CONNECTED:
            await websocket.send_text(closed.error.model_dump_json())
            await websocket.close(closed.code, reason=closed.error.code)
    except (ClientGone, WebSocketDisconnect):
        log.debug("stream client went away")
