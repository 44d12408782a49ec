"""One ``WS /v1/stream`` connection: authentication, limits, timeouts and the message loop.

Every way a stream can go wrong ends the same way: the client gets
``{"type": "error", "status": ..., "detail": ...}`` and a close code
(:func:`serving.stream.close_code`) — wrong or missing key (1008), no config message
within ``stream_config_timeout_s`` or no message at all within ``stream_idle_timeout_s``
(408 → 1008), an over-long text message (413 → 1009), too many streams at once
(503 → 1013), bad input (1003).  A client that goes away ends the session quietly.

The API key is read from the ``X-API-Key`` or ``Authorization: Bearer`` header, or, for
browsers (which cannot set headers on a WebSocket), from the subprotocol
``nordlid.key.<key>`` offered together with ``nordlid``; the server then selects
``nordlid`` (the key is never echoed).  There is no query-string key: URLs end up in logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from nordlid.errors import NordlidError
from serving.errors import ModelUnavailableError, RequestError
from serving.guard import check_api_key
from serving.service import Service, response
from serving.settings import ServingSettings
from serving.speech import NoSpeechError, StreamSpeech
from serving.stream import CONFIG_HINT, StreamBuffer, close_code, is_end, parse_start

log = logging.getLogger(__name__)

SUBPROTOCOL = "nordlid"
KEY_SUBPROTOCOL_PREFIX = "nordlid.key."
Run = Callable[..., Awaitable[Any]]


class StreamSlots:
    """Counts the open streams of this worker process (all on one event loop)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0

    def try_acquire(self) -> bool:
        if self.active >= self.limit:
            return False
        self.active += 1
        return True

    def release(self) -> None:
        self.active -= 1


def _subprotocol_key(ws: WebSocket) -> str | None:
    for proto in ws.scope.get("subprotocols", []):
        if proto.startswith(KEY_SUBPROTOCOL_PREFIX):
            return proto[len(KEY_SUBPROTOCOL_PREFIX) :] or None
    return None


def authenticate(ws: WebSocket, expected: str | None) -> None:
    """Raise RequestError(401/403) unless the headers or subprotocol carry the key."""
    check_api_key(
        expected,
        ws.headers.get("x-api-key") or _subprotocol_key(ws),
        ws.headers.get("authorization"),
    )


async def serve_stream(
    ws: WebSocket, service: Service, settings: ServingSettings, run: Run, slots: StreamSlots
) -> None:
    """Run one stream; every failure is an error message and a close code."""
    offered = ws.scope.get("subprotocols", [])
    await ws.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    try:
        authenticate(ws, settings.api_key_value())
    except RequestError as exc:
        await _fail(ws, exc.status, exc.reason)
        return
    if not slots.try_acquire():
        await _fail(ws, 503, f"too many concurrent streams (limit {slots.limit}); retry later")
        return
    try:
        await _session(ws, service, settings, run)
    except RequestError as exc:
        await _fail(ws, exc.status, exc.reason)
    except (ModelUnavailableError, NordlidError) as exc:
        await _fail(ws, 503, str(exc))
    except WebSocketDisconnect:
        log.debug("stream client went away")
    finally:
        slots.release()


async def _fail(ws: WebSocket, status: int, detail: str) -> None:
    """Send the error message and close, unless the client is gone already."""
    log.info("stream closed with %d: %s", status, detail)
    if ws.application_state != WebSocketState.CONNECTED:
        return
    with contextlib.suppress(WebSocketDisconnect):
        await ws.send_json({"type": "error", "status": status, "detail": detail})
        await ws.close(code=close_code(status))


async def _receive(ws: WebSocket, timeout_s: float, waiting_for: str) -> Message:
    try:
        return await asyncio.wait_for(ws.receive(), timeout_s)
    except TimeoutError:
        raise RequestError(408, f"no {waiting_for} within {timeout_s:g} s") from None


async def _open(ws: WebSocket, service: Service, settings: ServingSettings) -> StreamBuffer | None:
    """The config message → a buffer (None when the client left first)."""
    message = await _receive(ws, settings.stream_config_timeout_s, "config message")
    if message["type"] == "websocket.disconnect":
        return None
    if message.get("text") is None:
        size = len(message.get("bytes") or b"")
        raise RequestError(
            400,
            f"first message must be the config, got a binary frame of {size} bytes: " + CONFIG_HINT,
        )
    rate = parse_start(message["text"], settings.stream_max_sample_rate)
    speech = StreamSpeech(service.speech, settings.max_duration_s, sample_rate=rate)
    return StreamBuffer(rate, settings.min_duration_s, settings.max_duration_s, speech)


async def _session(ws: WebSocket, service: Service, settings: ServingSettings, run: Run) -> None:
    buffer = await _open(ws, service, settings)
    if buffer is None:
        return
    await ws.send_json({"type": "ready", "sample_rate": buffer.sample_rate})
    while True:
        message = await _receive(ws, settings.stream_idle_timeout_s, "message")
        if message["type"] == "websocket.disconnect":
            return
        if message.get("bytes") is not None:
            buffer.feed(message["bytes"])
            if buffer.partial_due():
                buffer.mark_predicted()
                await ws.send_json({"type": "partial", **await run(predict, service, buffer)})
        elif message.get("text") is not None and is_end(message["text"]):
            await ws.send_json({"type": "final", **await run(predict, service, buffer, True)})
            await ws.close()
            return
        else:
            raise RequestError(400, 'expected binary PCM chunks or {"event": "end"}')


def predict(service: Service, buffer: StreamBuffer, final: bool = False) -> dict[str, Any]:
    """A partial or final answer (on a worker thread); no speech → ``language: null``."""
    from serving.audio_input import ModelInput

    wave = buffer.wave16k()
    try:
        speech_s = buffer.speech.check() if buffer.speech is not None else None
        if final:
            prepared = ModelInput(wave, buffer.duration_s, buffer.sample_rate, 1)
            body = service.identify(prepared, route="/v1/stream", speech_s=speech_s)
        else:
            prediction = service.predictor.identify(wave)
            body = response(prediction, "", buffer.duration_s)
            body.pop("request_id")
    except NoSpeechError as exc:
        body = {"language": None, "duration_s": buffer.duration_s, **exc.body()}
    body["received_s"] = round(buffer.received_s, 3)
    return body
