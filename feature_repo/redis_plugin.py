"""nordlid's fast Redis paths as Feast plugins, selected by ``type:`` in ``feature_store.yaml``.

- ``online_store: {type: feature_repo.redis_plugin.NordlidRedisOnlineStore, ...}`` — Feast's
  Redis store (same configuration, same keys and bytes) whose ``online_write_batch`` sends
  pre-packed ``HSET`` commands on one connection (:mod:`feature_repo.redis_writer`) and whose
  reads (``online_read`` and ``get_online_features``, every view of a request at once) send
  their ``HMGET`` commands packed on one connection, as
  :class:`feature_repo.online.RedisOnlineReader` does (no redis-py pipeline).  ``feast serve``,
  ``feast materialize`` and ``FeatureStore.get_online_features`` / ``push`` all go through it.
- ``batch_engine: {type: feature_repo.redis_plugin.NordlidComputeEngine}`` — Feast's local
  engine, except that a plain feature view on Parquet files materialized into the store
  above is written by :func:`feature_repo.redis_writer.write_view` straight from pyarrow:
  Feast's engine hands ``online_write_batch`` rows it has already converted to protobuf value
  by value in Python, which is most of the time of a wide embedding row.  Anything else
  (other sources, transformations, other online stores) runs Feast's own engine.

Both fall back to Feast's own code where the fast path does not apply (Redis Cluster or
Sentinel, ``key_ttl_seconds``, feature view versioning).  :data:`WRITES` counts the rows
each path wrote in this process (:data:`READS` the entities read), and every write is
logged at INFO.  The store declares no async methods, so ``feast serve`` calls the sync
(fast) ones.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa
from feast.infra.compute_engines.local.compute import (
    LocalComputeEngine,
    LocalComputeEngineConfig,
)
from feast.infra.online_stores.redis import RedisOnlineStore, RedisOnlineStoreConfig
from feast.infra.supported_async_methods import SupportedAsyncMethods
from pydantic import ConfigDict

from feature_repo.feast_compat import RedisReadHook, field_key, redis_client
from feature_repo.online import packed_hmget
from feature_repo.redis_writer import encode_rows, send_batches, to_micros, write_view
from feature_repo.validate import parquet_files
from nordlid.errors import NordlidError

if TYPE_CHECKING:
    from feast import FeatureView
    from feast.infra.common.materialization_job import MaterializationTask
    from feast.infra.registry.base_registry import BaseRegistry
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
    from feast.protos.feast.types.Value_pb2 import Value as ValueProto
    from feast.repo_config import RepoConfig

logger = logging.getLogger(__name__)

ONLINE_STORE_TYPE = "feature_repo.redis_plugin.NordlidRedisOnlineStore"
ENGINE_TYPE = "feature_repo.redis_plugin.NordlidComputeEngine"
DIRECT_BATCH_ROWS = 500
"""Rows per batch of the direct writer, at most (~20 MiB of commands for the widest view;
larger batches overlap reading and sending less: benchmarks/materialize.py)."""
DIRECT_OVERLAP = True
"""Send each batch from a worker thread while the next is read (False: one thread)."""

WRITES: Counter[str] = Counter()
"""Rows written in this process: ``direct`` (Parquet → Redis, the engine's fast path),
``packed`` (``online_write_batch``'s packed commands), ``feast`` (Feast's own code)."""
READS: Counter[str] = Counter()
"""``HMGET`` commands (one per entity and view) sent in this process: ``packed`` (nordlid's
packed commands) or ``feast`` (Feast's own pipeline)."""


class NordlidRedisOnlineStoreConfig(RedisOnlineStoreConfig):
    """Feast's Redis configuration (``connection_string``, ``skip_dedup``, ...), under the
    plugin's type."""

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    type: Literal["feature_repo.redis_plugin.NordlidRedisOnlineStore"] = ONLINE_STORE_TYPE  # type: ignore[assignment]


class NordlidRedisOnlineStore(RedisReadHook, RedisOnlineStore):  # type: ignore[misc]
    """Feast's Redis online store with nordlid's batched writer and packed reads."""

    def __init__(self) -> None:
        super().__init__()
        self._tails: dict[tuple[bytes | str, ...], tuple[int, bytes]] = {}

    @property
    def async_supported(self) -> SupportedAsyncMethods:
        """None: Feast's feature server (``feast serve``) then calls ``online_read`` and
        ``online_write_batch`` in its thread pool, instead of its own async Redis code."""
        return SupportedAsyncMethods(read=False, write=False)

    def _plain_client(self, config: RepoConfig) -> Any:
        """The ``redis.Redis`` client when the fast paths apply, else None."""
        import redis

        store_config = config.online_store
        if store_config.key_ttl_seconds or getattr(
            config.registry, "enable_online_feature_view_versioning", False
        ):
            return None
        client = redis_client(self, store_config)
        return client if isinstance(client, redis.Redis) else None

    def online_write_batch(
        self,
        config: RepoConfig,
        table: FeatureView,
        data: list[tuple[EntityKeyProto, dict[str, ValueProto], datetime, datetime | None]],
        progress: Callable[[int], Any] | None,
    ) -> None:
        client = self._plain_client(config)
        if client is None:
            super().online_write_batch(config, table, data, progress)
            WRITES["feast"] += len(data)
            return
        skip_dedup = bool(config.online_store.skip_dedup)
        keys, micros, fields = _latest_rows(config, table.name, data, last_wins=skip_dedup)
        ts_key = f"_ts:{table.name}".encode()
        written = 0
        if keys:
            batch = encode_rows(keys, micros, fields, ts_key)
            written = send_batches(client, [batch], ts_key, table.name, dedup=not skip_dedup)
        WRITES["packed"] += written
        logger.info("%s: %d of %d rows written (packed HSET)", table.name, written, len(data))
        if progress:
            progress(len(data))

    def read_hash_fields(
        self, config: RepoConfig, commands: Sequence[tuple[bytes, Sequence[bytes | str]]]
    ) -> list[list[bytes | None]] | None:
        """Every ``HMGET`` of an ``online_read`` / ``get_online_features`` call, packed and sent
        at once on one connection (None: Feast's own pipeline reads them)."""
        client = self._plain_client(config)
        if client is None or config.online_store.client != "redis":
            READS["feast"] += len(commands)
            return None
        READS["packed"] += len(commands)
        return packed_hmget(client, commands, self._tails)

    def materialize_files(
        self,
        config: RepoConfig,
        view: FeatureView,
        paths: list[Path],
        start: datetime,
        end: datetime,
    ) -> int:
        """Write the latest row per entity of ``view`` in ``[start, end]`` from its Parquet
        files with the direct writer; returns the rows written."""
        client = self._plain_client(config)
        if client is None:
            raise NordlidError("the direct writer needs a plain Redis (no cluster, no TTL)")
        batch = min(
            config.materialization_config.online_write_batch_size or DIRECT_BATCH_ROWS,
            DIRECT_BATCH_ROWS,
        )
        written = write_view(
            client,
            config.project,
            view,
            paths,
            start,
            end,
            join_key=view.entity_columns[0].name,
            entity_key_serialization_version=config.entity_key_serialization_version,
            batch_rows=batch,
            dedup=not config.online_store.skip_dedup,
            overlap=DIRECT_OVERLAP,
        )
        WRITES["direct"] += written
        logger.info("%s: %d rows written from Parquet (%s to %s)", view.name, written, start, end)
        return written


def _redis_key(config: RepoConfig, entity_key: EntityKeyProto) -> bytes:
    """Feast's Redis key of an entity: ``serialize_entity_key(key) + project``."""
    from feast.infra.key_encoding_utils import serialize_entity_key

    return serialize_entity_key(
        entity_key, entity_key_serialization_version=config.entity_key_serialization_version
    ) + config.project.encode("utf-8")


def _latest_rows(
    config: RepoConfig,
    view: str,
    data: Sequence[tuple[EntityKeyProto, dict[str, ValueProto], datetime, datetime | None]],
    *,
    last_wins: bool = False,
) -> tuple[list[bytes], np.ndarray, list[list[tuple[bytes, bytes]]]]:
    """(keys, event times in µs, serialized fields) of the row of each entity that Feast's
    Redis store leaves stored after the whole batch: the first with the latest event time,
    or the last one (``last_wins``: ``skip_dedup`` writes every row in order)."""
    chosen: dict[bytes, tuple[int, int]] = {}
    for i, (entity_key, _, stamp, _) in enumerate(data):
        key = _redis_key(config, entity_key)
        micros = to_micros(stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC))
        best = chosen.get(key)
        if best is None or last_wins or micros > best[0]:
            chosen[key] = (micros, i)
    keys = sorted(chosen, key=lambda k: chosen[k][1])
    fields: list[list[tuple[bytes, bytes]]] = []
    cache: dict[str, bytes] = {}
    for key in keys:
        values = data[chosen[key][1]][1]
        row = []
        for name, value in values.items():
            fkey = cache.get(name)
            if fkey is None:
                fkey = cache[name] = field_key(view, name)
            row.append((fkey, value.SerializeToString()))
        fields.append(row)
    micros_all = np.array([chosen[k][0] for k in keys], dtype=np.int64)
    return keys, micros_all, fields


# --- the batch engine -----------------------------------------------------------------------


class NordlidComputeEngineConfig(LocalComputeEngineConfig):
    """Feast's local engine configuration, under the plugin's type."""

    type: Literal["feature_repo.redis_plugin.NordlidComputeEngine"] = ENGINE_TYPE  # type: ignore[assignment]


class NordlidComputeEngine(LocalComputeEngine):
    """Feast's local engine; Parquet views into :class:`NordlidRedisOnlineStore` are written
    by the direct writer."""

    def materialize(
        self,
        registry: BaseRegistry,
        tasks: MaterializationTask | list[MaterializationTask],
        **kwargs: Any,
    ) -> list[Any]:
        from feast.infra.common.materialization_job import MaterializationTask

        if isinstance(tasks, MaterializationTask):
            tasks = [tasks]
        jobs = []
        for task in tasks:
            job = self._materialize_direct(task)
            jobs.append(
                job if job is not None else super().materialize(registry, task, **kwargs)[0]
            )
        return jobs

    def _materialize_direct(self, task: MaterializationTask) -> Any:
        """The job of a task the direct writer can do (None: Feast's engine does it)."""
        from feast.infra.common.materialization_job import MaterializationJobStatus
        from feast.infra.compute_engines.local.job import LocalMaterializationJob
        from redis import RedisError

        view = task.feature_view
        paths = self._direct_files(view)
        if paths is None or not isinstance(self.online_store, NordlidRedisOnlineStore):
            return None
        job_id = f"{view.name}-{task.start_time}-{task.end_time}"
        start, end = (
            t if t.tzinfo else t.replace(tzinfo=UTC) for t in (task.start_time, task.end_time)
        )
        try:
            self.online_store.materialize_files(self.repo_config, view, paths, start, end)
        except (NordlidError, RedisError, OSError, pa.ArrowException) as exc:
            return LocalMaterializationJob(job_id, MaterializationJobStatus.ERROR, error=exc)
        return LocalMaterializationJob(job_id, MaterializationJobStatus.SUCCEEDED)

    def _direct_files(self, view: Any) -> list[Path] | None:
        """The Parquet files of a view the direct writer can materialize, else None."""
        from feast import FeatureView, FileSource
        from feast.types import String

        source = getattr(view, "batch_source", None)
        if (
            type(view) is not FeatureView
            or not view.online
            or getattr(view, "offline", False)
            or not isinstance(source, FileSource)
            or source.field_mapping
            or source.timestamp_field != "event_timestamp"
            or source.created_timestamp_column not in ("", "created_timestamp")
            or len(view.entity_columns) != 1
            or view.entity_columns[0].dtype != String
        ):
            return None
        path = Path(str(source.path))
        files = parquet_files(path) if path.exists() else []
        return files or None
