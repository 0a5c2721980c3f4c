"""WS /v1/stream: live screening of encoded images or a byte stream (`app.stream.protocol`)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from app.deps import API_KEY_HEADER, key_is_valid
from app.errors import Overloaded
from app.stream.protocol import CloseCode, ErrorMessage
from app.stream.session import ClientGone, StreamClosed, StreamSession

router = APIRouter(prefix="/v1", tags=["stream"])
log = logging.getLogger(__name__)


def _refusal(code: CloseCode, error: str, message: str) -> StreamClosed:
    return StreamClosed(code, ErrorMessage(code=error, message=message, fatal=True))


@router.websocket("/stream")
async def stream(websocket: WebSocket) -> None:
    """Screen a live stream; every answer and error is a JSON text message, see the protocol."""
    state = websocket.app.state
    settings, metrics = state.settings, state.metrics
    await websocket.accept()
    try:
        if not key_is_valid(settings, websocket.headers.get(API_KEY_HEADER)):
            raise _refusal(
                CloseCode.POLICY_VIOLATION, "unauthorized", f"a valid {API_KEY_HEADER} header is required"
            )
        if not state.ready.is_set():
            metrics.rejected.labels("not_ready").inc()
            raise _refusal(CloseCode.TRY_AGAIN_LATER, "not_ready", "the model is still warming up")
        try:
            with state.admission.admit("stream"):
                session = StreamSession(
                    websocket, state.screener, settings.max_stream_in_flight, settings.stream_idle_timeout_s
                )
                await session.run()
        except Overloaded as exc:
            raise _refusal(CloseCode.TRY_AGAIN_LATER, exc.code, exc.message) from exc
        await websocket.close(CloseCode.NORMAL)
    except StreamClosed as closed:
        metrics.errors.labels(closed.error.code).inc()
        if websocket.client_state == WebSocketState.CONNECTED:
            await websocket.send_text(closed.error.model_dump_json())
            await websocket.close(closed.code, reason=closed.error.code)
    except (ClientGone, WebSocketDisconnect):
        log.debug("stream client went away")
