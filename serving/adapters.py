"""The real implementations of the predictor's protocols.

- :class:`ExtractorFeatureComputer`: ``extractors.registry.create`` +
  ``extractors.engine.extract_waves`` — the very code of the batch extraction jobs;
- :class:`RegistryModelLoader`: ``training.registry.ModelRegistry(workdir.models).load``;
- :class:`FeastOnlineStore`: ``feature_repo.store`` (Feast online reads and PushSource).

Heavy packages are imported inside the methods.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from nordlid.errors import NordlidError
from nordlid.workdir import Workdir
from serving.errors import ModelUnavailableError, OnlineStoreUnavailableError
from serving.instances import InstancePool
from serving.predictor import FeatureRow, Model, OnlineResult

log = logging.getLogger(__name__)


class ExtractorFeatureComputer:
    """Per Feast view name, the registry's extractor, created once and reused.

    ``torch_threads`` caps torch's intra-op threads on the calling thread while features
    are computed (None leaves torch as it is).  Each request runs on its own worker thread;
    on a small shared machine one thread per request is several times faster than two that
    spin against each other and against the other requests.

    Extractors are not promised to be thread-safe, so each instance serves one call at a
    time.  Weight-free extractors (``spec.needs_weights`` false: acoustic, quality) get up
    to ``replicas`` instances, so that many requests compute them at once; extractors with
    weights keep one instance (one copy of the weights).
    """

    def __init__(
        self, device: str = "cpu", torch_threads: int | None = None, replicas: int = 1
    ) -> None:
        self.device = device
        self.torch_threads = torch_threads
        self.replicas = max(1, replicas)
        self._pools: dict[str, InstancePool[Any]] = {}
        self._lock = threading.Lock()

    def _pool(self, view: str) -> InstancePool[Any]:
        with self._lock:
            if view in self._pools:
                return self._pools[view]
            from extractors import registry

            names = {spec.view_name: spec.name for spec in registry.all_specs()}
            if view not in names:
                raise ModelUnavailableError(
                    f"no extractor produces view {view!r} (known views: {sorted(names)})"
                )
            name = names[view]

            def make() -> Any:
                return registry.create(name).to(self.device)

            first = make()
            size = 1 if first.spec.needs_weights else self.replicas
            self._pools[view] = pool = InstancePool(make, size, first)
            log.info("loaded extractor %s for view %s (up to %d at once)", name, view, size)
            return pool

    def preload(self, views: Sequence[str]) -> None:
        for view in views:
            self._pool(view)

    def capacity(self, view: str) -> int:
        """How many calls for ``view`` may run at once (instances in its pool)."""
        return self._pool(view).size

    def compute(self, views: Sequence[str], waves: list[np.ndarray]) -> dict[str, list[FeatureRow]]:
        from validation.speech_quality import shared_speech_segments, torch_threads

        out: dict[str, list[FeatureRow]] = {}
        # views of the same waves share one voice-activity pass (acoustic trim, quality ratio)
        with torch_threads(self.torch_threads), shared_speech_segments():
            for view in views:
                with self._pool(view).use() as extractor:
                    rows = _extract_waves()(extractor, waves)
                    names = extractor.spec.feature_names
                if isinstance(rows, pd.DataFrame):
                    rows = rows.to_dict("records")
                out[view] = [{k: row[k] for k in names} for row in rows]
        return out


def _extract_waves() -> Any:
    """``extractors.engine.extract_waves`` — the batch jobs' in-memory path.

    While the engine module is not installed, the extractor's own ``extract`` (which
    ``extract_waves`` wraps) is called directly.
    """
    try:
        from extractors.engine import extract_waves
    except ModuleNotFoundError as exc:
        if exc.name != "extractors.engine":
            raise
        return lambda extractor, waves: extractor.extract(waves)
    return extract_waves


class RegistryModelLoader:
    def __init__(self, workdir: Workdir) -> None:
        self.workdir = workdir

    def load(self, ref: str) -> Model:
        from training.registry import ModelRegistry

        try:
            model: Model = ModelRegistry(self.workdir.models).load(ref)
        except (NordlidError, FileNotFoundError, KeyError, ValueError) as exc:
            raise ModelUnavailableError(
                f"model {ref!r} is not in the registry at {self.workdir.models}: {exc}"
            ) from exc
        return model


def _store_errors() -> tuple[type[BaseException], ...]:
    import redis.exceptions

    return (redis.exceptions.RedisError, OSError, sqlite3.Error)


class FeastOnlineStore:
    """Online reads of feature services and PushSource writes through the Feast repo."""

    def __init__(self, workdir: Workdir, redis_url: str | None = None) -> None:
        self.workdir = workdir
        self.redis_url = redis_url
        self._fs: Any = None
        self._lock = threading.Lock()

    def _store(self) -> Any:
        with self._lock:
            if self._fs is None:
                from feature_repo import store

                try:
                    self._fs = store.get_store(self.workdir)
                except _store_errors() as exc:
                    raise OnlineStoreUnavailableError(
                        f"feature store is unavailable: {exc}"
                    ) from exc
            return self._fs

    def preload(self) -> None:
        """Load Feast and the registry now (start-up), not on the first request or push."""
        from feast.errors import FeastError
        from sqlalchemy.exc import SQLAlchemyError

        fs = self._store()
        errors: tuple[type[BaseException], ...] = (*_store_errors(), SQLAlchemyError, FeastError)
        try:
            fs.list_feature_views(allow_cache=True)
        except errors as exc:
            raise OnlineStoreUnavailableError(f"feature registry is unavailable: {exc}") from exc

    def online_features(self, service: str, utterance_ids: list[str]) -> OnlineResult:
        from feature_repo import store

        self._store()
        try:
            frame = store.online_features(self.workdir, service, utterance_ids)
        except _store_errors() as exc:
            raise OnlineStoreUnavailableError(f"online store did not answer: {exc}") from exc
        except NordlidError as exc:  # e.g. the service is not registered (features apply)
            raise OnlineStoreUnavailableError(
                f"online store cannot serve {service!r}: {exc}"
            ) from exc
        found = frame["found"].astype(bool).to_numpy()
        missing = [uid for uid, ok in zip(utterance_ids, found, strict=True) if not ok]
        refs = [c for c in frame.columns if "__" in c]
        return OnlineResult(frame=frame.loc[found, refs].reset_index(drop=True), missing=missing)

    def push(self, view: str, rows: pd.DataFrame) -> None:
        from feature_repo import store

        self._store()
        try:
            store.push(self.workdir, view, rows)
        except _store_errors() as exc:
            raise OnlineStoreUnavailableError(f"push to view {view!r} failed: {exc}") from exc

    def ping(self) -> None:
        if self.redis_url:
            import redis

            client = redis.Redis.from_url(
                self.redis_url, socket_connect_timeout=1, socket_timeout=1
            )
            try:
                client.ping()
            except _store_errors() as exc:
                raise OnlineStoreUnavailableError(
                    f"Redis at {self.redis_url} does not answer: {exc}"
                ) from exc
            finally:
                client.close()
        else:
            self._store()
