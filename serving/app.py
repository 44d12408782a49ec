"""The FastAPI application (``create_app(settings)``): routes, auth, limits, metrics.

CPU-bound work (decoding, feature extraction, model inference, online reads) runs in a
bounded thread pool (``anyio.to_thread``), never on the event loop.  Models load once at
start-up (lifespan) and on ``POST /v1/models/reload``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, File, Request, UploadFile, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect

from nordlid import __version__
from nordlid.errors import NordlidError
from serving import audio_input
from serving.errors import (
    ModelUnavailableError,
    OnlineStoreUnavailableError,
    RequestError,
    UnknownUtteranceError,
)
from serving.metrics import PROMETHEUS_CONTENT_TYPE, ServiceMetrics
from serving.predictor import FeatureComputer, ModelLoader, OnlineStore
from serving.service import Service, response
from serving.settings import ServingSettings
from serving.stream import StreamBuffer, is_end, parse_start

log = logging.getLogger(__name__)
T = TypeVar("T")

IDENTIFY_PATH = "/v1/identify"
MULTIPART_OVERHEAD = 64 * 1024


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    request_id: str = Field(min_length=1, max_length=200)
    language: str = Field(min_length=1, max_length=20)


class IdentifyOut(BaseModel):
    language: str
    language_name: str
    confidence: float
    probabilities: dict[str, float]
    model: str
    escalated: bool
    duration_s: float | None
    request_id: str


# --- middleware ---------------------------------------------------------------------------
class UploadGuard:
    """Rejects non-multipart or oversized uploads to /v1/identify before the body is parsed."""

    def __init__(self, app: ASGIApp, max_bytes: int, api_key: str | None = None) -> None:
        self.app = app
        self.max_body = max_bytes + MULTIPART_OVERHEAD
        self.max_bytes = max_bytes
        self.api_key = api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != IDENTIFY_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:  # authenticate before reading (or rejecting) any body
            check_api_key(self.api_key, headers.get("x-api-key"), headers.get("authorization"))
        except RequestError as exc:
            await _send_json(scope, receive, send, exc.status, exc.reason)
            return
        ctype = headers.get("content-type", "")
        if not ctype.lower().startswith("multipart/form-data"):
            shown = ctype or "none"
            await _send_json(
                scope,
                receive,
                send,
                415,
                (
                    f"content type {shown!r} is wrong: send multipart/form-data with the audio "
                    "in a field named 'file'"
                ),
            )
            return
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await _send_json(
                scope,
                receive,
                send,
                413,
                (f"upload of {length} bytes is too large (limit {self.max_bytes} bytes of audio)"),
            )
            return
        seen = 0
        max_body, max_bytes = self.max_body, self.max_bytes

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_body:
                    raise HTTPException(
                        413, f"upload is too large (limit {max_bytes} bytes of audio)"
                    )
            return message

        await self.app(scope, counting_receive, send)


async def _send_json(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
    await JSONResponse({"detail": detail}, status_code=status)(scope, receive, send)


class MetricsMiddleware:
    """Request counts and latency per route template (and answering model)."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or (
                IDENTIFY_PATH if scope["path"] == IDENTIFY_PATH else "<unmatched>"
            )
            model = scope.get("nordlid.model", "none")
            self.metrics.record_request(
                template, scope["method"], status, model, time.perf_counter() - start
            )


# --- app ----------------------------------------------------------------------------------
def create_app(
    settings: ServingSettings | None = None,
    *,
    loader: ModelLoader | None = None,
    features: FeatureComputer | None = None,
    store: OnlineStore | None = None,
) -> FastAPI:
    """Build the service; the protocols default to the real registry/extractors/Feast."""
    from serving.settings import load_settings

    settings = settings or load_settings()
    workdir = settings.workdir_obj
    if loader is None or features is None or store is None:
        from serving.adapters import ExtractorFeatureComputer, FeastOnlineStore, RegistryModelLoader

        loader = loader or RegistryModelLoader(workdir)
        features = features or ExtractorFeatureComputer(
            torch_threads=settings.torch_threads, replicas=settings.compute_slots()
        )
        store = store or FeastOnlineStore(workdir, settings.redis_url)
    service = Service(settings, loader, features, store)
    limiter = anyio.CapacityLimiter(settings.worker_threads)
    # feature extraction is CPU-bound: more of it at once than there are cores only
    # time-slices (every request finishes late); the rest wait their turn in order
    compute_slots = anyio.CapacityLimiter(settings.compute_slots())

    async def run(fn: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(partial(fn, *args), limiter=limiter)

    async def compute(fn: Callable[..., T], *args: Any) -> T:
        async with compute_slots:
            return await run(fn, *args)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run(service.start)
        ticker = asyncio.create_task(_tick(service, run))
        try:
            yield
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            await run(service.stop)

    app = FastAPI(
        title="nordlid",
        version=__version__,
        description="Spoken language identification (da/fo/is/no/sv) over a Feast feature store.",
        lifespan=lifespan,
    )
    app.state.service = service
    _install_error_handlers(app)

    def require_api_key(request: Request) -> None:
        check_api_key(
            settings.api_key_value(),
            request.headers.get("x-api-key"),
            request.headers.get("authorization"),
        )

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)])

    @v1.post("/identify", response_model=IdentifyOut)
    async def identify(
        request: Request,
        file: UploadFile = File(..., description="WAV, FLAC, OGG or MP3; any rate; mono/stereo"),
    ) -> dict[str, Any]:
        name = file.filename or "<upload>"
        audio_input.check_part_content_type(file.content_type, name)
        if file.size is not None:
            audio_input.check_size(file.size, service.limits, name)
        data = await file.read(settings.max_upload_bytes + 1)
        audio_input.check_size(len(data), service.limits, name)
        body = await compute(_identify_upload, service, data, name)  # one worker-thread hop
        request.scope["nordlid.model"] = body["model"]
        return body

    @v1.get("/utterances/{utterance_id}/language")
    async def by_id(request: Request, utterance_id: str) -> dict[str, Any]:
        body = await run(service.by_id, utterance_id, "/v1/utterances/{utterance_id}/language")
        request.scope["nordlid.model"] = body["model"]
        return body

    @v1.post("/feedback")
    async def feedback(item: FeedbackIn) -> dict[str, Any]:
        return await run(service.feedback, item.request_id, item.language)

    @v1.get("/models")
    async def models() -> dict[str, Any]:
        return {"models": service.models()}

    @v1.post("/models/reload")
    async def reload() -> dict[str, Any]:
        return {"models": await run(service.request_reload)}

    app.include_router(v1)

    @app.websocket("/v1/stream")
    async def stream(ws: WebSocket) -> None:
        await _stream(ws, service, settings, compute)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        ok, checks = await run(service.readiness)
        return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(service.metrics.render(), media_type=PROMETHEUS_CONTENT_TYPE)

    app.add_middleware(
        UploadGuard, max_bytes=settings.max_upload_bytes, api_key=settings.api_key_value()
    )
    app.add_middleware(MetricsMiddleware, metrics=service.metrics)
    return app


def _identify_upload(service: Service, data: bytes, name: str) -> dict[str, Any]:
    """Decode, check and identify an upload (on a worker thread)."""
    return service.identify(audio_input.from_bytes(data, service.limits, name))


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (each worker reads the environment)."""
    return create_app()


async def _tick(service: Service, run: Callable[..., Awaitable[Any]]) -> None:
    while True:
        await asyncio.sleep(1.0)
        await run(service.tick)


def check_api_key(expected: str | None, x_api_key: str | None, authorization: str | None) -> None:
    """Raise 401 (no key) or 403 (wrong key) when a key is configured."""
    if expected is None:
        return
    given = _given_key(x_api_key, authorization)
    if given is None:
        raise RequestError(401, "missing API key: send it as X-API-Key or Authorization: Bearer")
    if not secrets.compare_digest(given.encode(), expected.encode()):
        raise RequestError(403, "wrong API key")


def _given_key(x_api_key: str | None, authorization: str | None) -> str | None:
    if x_api_key:
        return x_api_key
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return None


def _install_error_handlers(app: FastAPI) -> None:
    def detail(status: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
        async def handler(request: Request, exc: Exception) -> JSONResponse:
            code = exc.status if isinstance(exc, RequestError) else status
            return JSONResponse({"detail": str(exc)}, status_code=code)

        return handler

    app.add_exception_handler(RequestError, detail(400))
    app.add_exception_handler(UnknownUtteranceError, detail(404))
    app.add_exception_handler(OnlineStoreUnavailableError, detail(503))
    app.add_exception_handler(ModelUnavailableError, detail(503))
    app.add_exception_handler(NordlidError, detail(400))

    async def validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        parts = []
        for err in exc.errors():
            loc = [str(x) for x in err.get("loc", ()) if x not in ("body",)]
            where = ".".join(loc) or "body"
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return JSONResponse(
            {"detail": "; ".join(parts) or "invalid request", "errors": _plain(exc.errors())},
            status_code=422,
        )

    app.add_exception_handler(RequestValidationError, validation)


def _plain(errors: Any) -> Any:
    out = []
    for err in errors:
        out.append(
            {
                k: (v if isinstance(v, str | int | float | list) else str(v))
                for k, v in err.items()
                if k in ("loc", "msg", "type")
            }
        )
    return out


# --- websocket ----------------------------------------------------------------------------
async def _stream(
    ws: WebSocket, service: Service, settings: ServingSettings, run: Callable[..., Awaitable[Any]]
) -> None:
    try:
        check_api_key(
            settings.api_key_value(),
            ws.headers.get("x-api-key") or ws.query_params.get("api_key"),
            ws.headers.get("authorization"),
        )
    except RequestError as exc:
        await ws.send_denial_response(JSONResponse({"detail": exc.reason}, status_code=exc.status))
        return
    await ws.accept()
    try:
        buffer = StreamBuffer(
            parse_start(await ws.receive_text(), settings.stream_max_sample_rate),
            settings.min_duration_s,
            settings.max_duration_s,
        )
        await ws.send_json({"type": "ready", "sample_rate": buffer.sample_rate})
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                buffer.feed(message["bytes"])
                if buffer.partial_due():
                    buffer.mark_predicted()
                    body = await run(_predict_stream, service, buffer)
                    await ws.send_json({"type": "partial", **body})
            elif message.get("text") is not None and is_end(message["text"]):
                body = await run(_predict_stream, service, buffer, True)
                await ws.send_json({"type": "final", **body})
                await ws.close()
                return
            else:
                raise RequestError(400, 'expected binary PCM chunks or {"event": "end"}')
    except RequestError as exc:
        await ws.send_json({"type": "error", "status": exc.status, "detail": exc.reason})
        await ws.close(code=1008 if exc.status in (401, 403) else 1003)
    except (ModelUnavailableError, NordlidError) as exc:
        await ws.send_json({"type": "error", "status": 503, "detail": str(exc)})
        await ws.close(code=1011)
    except WebSocketDisconnect:
        return


def _predict_stream(service: Service, buffer: StreamBuffer, final: bool = False) -> dict[str, Any]:
    wave = buffer.wave16k()
    if final:
        prepared = audio_input.ModelInput(wave, buffer.duration_s, buffer.sample_rate, 1)
        body = service.identify(prepared, route="/v1/stream")
    else:
        body = response(service.predictor.identify(wave), "", buffer.duration_s)
        body.pop("request_id")
    body["received_s"] = round(buffer.received_s, 3)
    return body
