"""The FastAPI application (``create_app(settings)``): routes, auth, limits, metrics.

CPU-bound work (decoding, feature extraction, model inference, online reads) runs in a
bounded thread pool (``anyio.to_thread``), never on the event loop.  Models load once at
start-up (lifespan) and on ``POST /v1/models/reload``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, TypeVar

import anyio
import anyio.to_thread
from fastapi import APIRouter, FastAPI, File, Request, UploadFile, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nordlid import __version__
from nordlid.errors import NordlidError
from serving import audio_input
from serving.errors import (
    ModelUnavailableError,
    OnlineStoreUnavailableError,
    RequestError,
    UnknownUtteranceError,
)
from serving.guard import BodyRule, RequestGuard, install_log_redaction
from serving.metrics import PROMETHEUS_CONTENT_TYPE, ServiceMetrics
from serving.predictor import FeatureComputer, ModelLoader, OnlineStore
from serving.service import Service
from serving.settings import ServingSettings
from serving.speech import NoSpeechError
from serving.stream_session import StreamSlots, serve_stream

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


class NoSpeechOut(BaseModel):
    detail: str
    reason: Literal["no_speech"]
    speech_s: float = Field(description="Seconds of speech silero-vad found.")


IDENTIFY_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {
        "model": NoSpeechOut,
        "description": "No speech: less than NORDLID_MIN_SPEECH_S seconds of speech "
        '(silence, noise, tones) — `{"detail", "reason": "no_speech", "speech_s"}`; '
        "bad audio (too short, too long, corrupt) is a 422 with only `detail`.",
    },
    401: {"description": "missing API key"},
    403: {"description": "wrong API key"},
    413: {"description": "upload too large"},
    415: {"description": "not multipart/form-data, or the file is not audio"},
}


def body_rules(settings: ServingSettings) -> dict[tuple[str, str], BodyRule]:
    """Per-route body limits beyond the JSON default (RequestGuard's table)."""
    return {
        ("POST", IDENTIFY_PATH): BodyRule(
            settings.max_upload_bytes + MULTIPART_OVERHEAD,
            f"{settings.max_upload_bytes} bytes of audio",
            content_type="multipart/form-data",
            content_type_hint="send multipart/form-data with the audio in a field named 'file'",
        ),
    }


# --- middleware ---------------------------------------------------------------------------
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
@dataclass(frozen=True)
class Runtime:
    """What the routes share: the service, its settings and the two thread pools."""

    service: Service
    settings: ServingSettings
    limiter: anyio.CapacityLimiter
    # feature extraction is CPU-bound: more of it at once than there are cores only
    # time-slices (every request finishes late); the rest wait their turn in order
    compute_slots: anyio.CapacityLimiter

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(partial(fn, *args), limiter=self.limiter)

    async def compute(self, fn: Callable[..., T], *args: Any) -> T:
        async with self.compute_slots:
            return await self.run(fn, *args)


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
    install_log_redaction()
    if loader is None or features is None or store is None:
        loader, features, store = _default_protocols(settings, loader, features, store)
    rt = Runtime(
        service=Service(settings, loader, features, store),
        settings=settings,
        limiter=anyio.CapacityLimiter(settings.worker_threads),
        compute_slots=anyio.CapacityLimiter(settings.compute_slots()),
    )
    app = FastAPI(
        title="nordlid",
        version=__version__,
        description="Spoken language identification (da/fo/is/no/sv) over a Feast feature store.",
        lifespan=partial(_lifespan, rt),
    )
    app.state.service = rt.service
    _install_error_handlers(app)
    app.include_router(_v1_router(rt))
    _add_stream_route(app, rt)
    _add_operations_routes(app, rt)
    app.add_middleware(
        RequestGuard,
        api_key=settings.api_key_value(),
        rules=body_rules(settings),
        default=BodyRule(settings.max_json_body_bytes, f"{settings.max_json_body_bytes} bytes"),
    )
    app.add_middleware(MetricsMiddleware, metrics=rt.service.metrics)
    return app


def _default_protocols(
    settings: ServingSettings,
    loader: ModelLoader | None,
    features: FeatureComputer | None,
    store: OnlineStore | None,
) -> tuple[ModelLoader, FeatureComputer, OnlineStore]:
    """The real model registry, extractors and Feast store for what was not given."""
    from serving.adapters import ExtractorFeatureComputer, FeastOnlineStore, RegistryModelLoader

    workdir = settings.workdir_obj
    return (
        loader or RegistryModelLoader(workdir),
        features
        or ExtractorFeatureComputer(
            torch_threads=settings.torch_threads, replicas=settings.compute_slots()
        ),
        store or FeastOnlineStore(workdir, settings.redis_url),
    )


@contextlib.asynccontextmanager
async def _lifespan(rt: Runtime, app: FastAPI) -> AsyncIterator[None]:
    await rt.run(rt.service.start)
    ticker = asyncio.create_task(_tick(rt.service, rt.run))
    try:
        yield
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        await rt.run(rt.service.stop)


def _v1_router(rt: Runtime) -> APIRouter:
    """The /v1 HTTP routes (the API key and body limits are checked by RequestGuard,
    before any body is read)."""
    service, settings = rt.service, rt.settings
    v1 = APIRouter(prefix="/v1")

    @v1.post("/identify", response_model=IdentifyOut, responses=IDENTIFY_RESPONSES)
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
        body = await rt.compute(_identify_upload, service, data, name)  # one worker hop
        request.scope["nordlid.model"] = body["model"]
        return body

    @v1.get("/utterances/{utterance_id}/language")
    async def by_id(request: Request, utterance_id: str) -> dict[str, Any]:
        body = await rt.run(service.by_id, utterance_id, "/v1/utterances/{utterance_id}/language")
        request.scope["nordlid.model"] = body["model"]
        return body

    @v1.post("/feedback")
    async def feedback(item: FeedbackIn) -> dict[str, Any]:
        return await rt.run(service.feedback, item.request_id, item.language)

    @v1.get("/models")
    async def models() -> dict[str, Any]:
        return {"models": service.models()}

    @v1.post("/models/reload")
    async def reload() -> dict[str, Any]:
        return {"models": await rt.run(service.request_reload)}

    return v1


def _add_stream_route(app: FastAPI, rt: Runtime) -> None:
    slots = StreamSlots(rt.settings.max_streams)

    @app.websocket("/v1/stream")
    async def stream(ws: WebSocket) -> None:
        await serve_stream(ws, rt.service, rt.settings, rt.compute, slots)


def _add_operations_routes(app: FastAPI, rt: Runtime) -> None:
    """Health, readiness and Prometheus metrics (no API key)."""

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        ok, checks = await rt.run(rt.service.readiness)
        return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(rt.service.metrics.render(), media_type=PROMETHEUS_CONTENT_TYPE)


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

    async def no_speech(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, NoSpeechError)
        return JSONResponse(exc.body(), status_code=exc.status)

    app.add_exception_handler(NoSpeechError, no_speech)

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
