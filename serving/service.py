"""The service's state and its synchronous operations (called from worker threads).

:class:`Service` owns the predictor (swapped atomically on reload), the online store, the
background pusher, the serving and feedback logs and the metrics.  The FastAPI layer in
:mod:`serving.app` only parses requests and calls these methods off the event loop.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nordlid import LANGUAGE_NAMES, LANGUAGES
from nordlid.errors import NordlidError
from serving.audio_input import Limits, ModelInput
from serving.errors import ModelUnavailableError, OnlineStoreUnavailableError, RequestError
from serving.metrics import ServiceMetrics
from serving.predictor import (
    FeatureComputer,
    Model,
    ModelLoader,
    OnlineStore,
    Prediction,
    Predictor,
    model_views,
)
from serving.pusher import Pusher, PushJob
from serving.request_log import BufferedParquetLog, RequestIndex, serving_log_row
from serving.settings import ServingSettings
from serving.speech import SpeechGate, identify_speech

log = logging.getLogger(__name__)


def new_request_id() -> str:
    return uuid.uuid4().hex


class Service:
    def __init__(
        self,
        settings: ServingSettings,
        loader: ModelLoader,
        features: FeatureComputer,
        store: OnlineStore,
        metrics: ServiceMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.workdir = settings.workdir_obj
        self.loader = loader
        self.features = features
        self.store = store
        self.metrics = metrics or ServiceMetrics()
        self.limits = Limits(
            max_upload_bytes=settings.max_upload_bytes,
            min_duration_s=settings.min_duration_s,
            max_duration_s=settings.max_duration_s,
        )
        self.pusher = Pusher(
            store,
            attempts=settings.push_attempts,
            backoff_s=settings.push_backoff_s,
            max_queue=settings.push_queue_size,
            linger_s=settings.push_linger_s,
            max_batch=settings.push_batch_rows,
            on_result=self.metrics.record_push,
        )
        self.serving_log = BufferedParquetLog(
            self.workdir.serving_log,
            settings.log_flush_rows,
            settings.log_flush_seconds,
            background=True,
        )
        self.feedback_log = BufferedParquetLog(
            self.workdir.feedback_log,
            settings.log_flush_rows,
            settings.log_flush_seconds,
            background=True,
        )
        self.index = RequestIndex(settings.request_index_size)
        self.speech = SpeechGate(settings.min_speech_s)
        self._predictor: Predictor | None = None
        self._load_error: str | None = "models not loaded yet"
        self._reload_lock = threading.Lock()
        self._seen_reload = 0

    # --- life cycle -------------------------------------------------------------------
    def start(self) -> None:
        preload = getattr(self.store, "preload", None)
        if preload is not None:  # Feast's import and registry: at start, not on request one
            try:
                preload()
            except OnlineStoreUnavailableError as exc:
                log.warning("online store not loaded at start (retried on use): %s", exc)
        self.speech.preload()
        self.pusher.start()
        self.index.load_existing(self.workdir.serving_log)
        self._seen_reload = self._reload_stamp()
        try:
            self.reload()
        except ModelUnavailableError as exc:
            log.warning("serving without a model until one is registered and reloaded: %s", exc)

    # --- reload across worker processes -----------------------------------------------
    @property
    def reload_marker(self) -> Path:
        """Touched by ``POST /v1/models/reload``; every worker process reloads when it moves."""
        return self.workdir.data / "serving_reload.stamp"

    def _reload_stamp(self) -> int:
        try:
            return self.reload_marker.stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    def request_reload(self) -> list[dict[str, Any]]:
        """Reload here now, and tell the other workers (they follow within a tick)."""
        self.reload_marker.parent.mkdir(parents=True, exist_ok=True)
        self.reload_marker.write_text(datetime.now(UTC).isoformat())
        self._seen_reload = self._reload_stamp()
        return self.reload()

    def _follow_reload(self) -> None:
        stamp = self._reload_stamp()
        if stamp == self._seen_reload:
            return
        self._seen_reload = stamp
        try:
            self.reload()
        except ModelUnavailableError as exc:
            log.warning("reload requested by another worker failed, keeping models: %s", exc)

    def stop(self) -> None:
        self.pusher.stop()
        self.serving_log.flush()
        self.feedback_log.flush()

    def tick(self) -> None:
        """Periodic housekeeping: flush logs that are due, follow reload requests."""
        self.serving_log.flush_if_due()
        self.feedback_log.flush_if_due()
        self._follow_reload()

    def reload(self) -> list[dict[str, Any]]:
        """Load the models behind the registry aliases (then swap them in atomically).

        The extractors each model needs are created here too, so a missing checkpoint is
        found at start-up: for the mini model that is an error, for the premium model the
        cascade is switched off with a warning.
        """
        with self._reload_lock:
            try:
                predictor = Predictor.load(
                    self.loader,
                    self.features,
                    self.settings.mini_model,
                    self.settings.premium_ref,
                )
                self._preload(predictor.mini)
            except NordlidError as exc:
                self._load_error = str(exc)
                if isinstance(exc, ModelUnavailableError):
                    raise
                raise ModelUnavailableError(str(exc)) from exc
            if predictor.premium is not None:
                try:
                    self._preload(predictor.premium)
                except NordlidError as exc:
                    log.warning("premium model disabled, its features cannot be computed: %s", exc)
                    predictor.premium = None
            self._predictor, self._load_error = predictor, None
            log.info("models loaded: %s", [m["model"] for m in predictor.models()])
            return predictor.models()

    def _preload(self, model: Model) -> None:
        preload = getattr(self.features, "preload", None)
        if preload is not None:
            preload(model_views(model))

    @property
    def predictor(self) -> Predictor:
        p = self._predictor
        if p is None:
            raise ModelUnavailableError(f"no model is loaded ({self._load_error})")
        return p

    def models(self) -> list[dict[str, Any]]:
        return self.predictor.models() if self._predictor is not None else []

    def readiness(self) -> tuple[bool, dict[str, str]]:
        checks: dict[str, str] = {}
        checks["models"] = "ok" if self._predictor is not None else f"error: {self._load_error}"
        try:
            self.store.ping()
            checks["online_store"] = "ok"
        except OnlineStoreUnavailableError as exc:
            checks["online_store"] = f"error: {exc}"
        return all(v == "ok" for v in checks.values()), checks

    # --- operations -------------------------------------------------------------------
    def identify(
        self, audio: ModelInput, route: str = "/v1/identify", speech_s: float | None = None
    ) -> dict[str, Any]:
        """Identify prepared audio; :class:`NoSpeechError` when it holds too little speech.

        ``speech_s`` is the caller's own measurement (a stream scans as audio arrives);
        without it the VAD runs here, once, shared with the features that need it.
        """
        import time

        t0 = time.perf_counter()
        prediction, _ = identify_speech(self.predictor, self.speech, audio.wave, route, speech_s)
        request_id = new_request_id()
        timings = dict(prediction.timings_ms, total_ms=(time.perf_counter() - t0) * 1e3)
        for view, row in prediction.features.items():  # the frames are built off this thread
            self.pusher.submit(PushJob(view, request_id, row))
        self.serving_log.append(
            serving_log_row(request_id, route, prediction, audio.duration_s, timings)
        )
        self.index.add(request_id)
        self.metrics.record_prediction(route, prediction.model, prediction.escalated)
        return response(prediction, request_id, audio.duration_s)

    def by_id(self, utterance_id: str, route: str) -> dict[str, Any]:
        try:
            prediction = self.predictor.by_id(utterance_id, self.store)
        except OnlineStoreUnavailableError:
            self.metrics.record_online_store_error()
            raise
        self.metrics.record_prediction(route, prediction.model, prediction.escalated)
        body = response(prediction, new_request_id(), None)
        body["utterance_id"] = utterance_id
        return body

    def feedback(self, request_id: str, language: str) -> dict[str, Any]:
        if language not in LANGUAGES:
            raise RequestError(422, f"language {language!r} is not one of {', '.join(LANGUAGES)}")
        if request_id not in self.index:
            raise RequestError(
                404, f"request_id {request_id!r} is not a request this service answered"
            )
        row = {"request_id": request_id, "language": language, "timestamp": datetime.now(UTC)}
        self.feedback_log.append(row)
        return {"request_id": request_id, "language": language, "recorded": True}


def response(prediction: Prediction, request_id: str, duration_s: float | None) -> dict[str, Any]:
    return {
        "language": prediction.language,
        "language_name": LANGUAGE_NAMES.get(prediction.language, prediction.language),
        "confidence": prediction.confidence,
        "probabilities": prediction.probabilities,
        "model": prediction.model,
        "escalated": prediction.escalated,
        "duration_s": duration_s,
        "request_id": request_id,
    }
