"""Feast on a distributed engine: Ray batch engine, Ray offline store, Redis Cluster online store.

The embedded configuration of :mod:`feature_repo.config` stays the default.  This module
writes a second repo configuration, ``<workdir>/data/feast/feature_store.scale_out.yaml``, for
the same registry and project, with:

- ``batch_engine: {type: ray.engine}`` — materialization reads each view's Parquet dataset
  as a Ray Dataset and writes the online store from Ray workers (``write_concurrency``
  parallel writers, ``online_write_batch_size`` rows per write);
- ``offline_store: {type: ray}`` — ``get_historical_features`` runs the point-in-time join
  on Ray (the views' ``FileSource`` Parquet datasets are read directly);
- ``online_store: {type: redis, redis_type: redis_cluster}`` when cluster nodes are given,
  else the online store of the base settings (SQLite or a single Redis).

Settings come from the environment (validated at start):

- ``NORDLID_FEAST_BATCH_ENGINE`` — ``ray`` (default here) or ``local``;
- ``NORDLID_FEAST_OFFLINE`` — ``ray`` (default here) or ``file``;
- ``NORDLID_RAY_ADDRESS`` — an existing Ray cluster (default: the instance in this process,
  else a local one);
- ``NORDLID_FEAST_WRITE_CONCURRENCY`` — parallel online-store writers (SQLite: forced to 1);
- ``NORDLID_FEAST_WRITE_BATCH`` — rows per online write (shared with the base settings);
- ``NORDLID_REDIS_CLUSTER`` — ``host:port,host:port,...`` startup nodes of a Redis Cluster
  (``NORDLID_REDIS_CLUSTER_PASSWORD`` for ``requirepass`` clusters).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from feature_repo.config import REPO_DIR, repo_config_dict
from feature_repo.settings import FeastSettings, settings_from_env
from nordlid.atomic import atomic_write_text
from nordlid.errors import ConfigError
from nordlid.workdir import Workdir

if TYPE_CHECKING:
    from feast import FeatureStore

    from feature_repo.store import MaterializeResult

logger = logging.getLogger(__name__)

SCALE_OUT_YAML = "feature_store.scale_out.yaml"
DEFAULT_WRITE_CONCURRENCY = 4
"""Parallel online-store writers for Redis (chosen by ``benchmarks/scaleout.py``)."""


class ScaleOutSettings(BaseModel):
    """How Feast computes and where it writes when one machine is not enough."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    batch_engine: Literal["ray", "local"] = "ray"
    offline_store: Literal["ray", "file"] = "ray"
    ray_address: str | None = None
    write_concurrency: int = Field(default=DEFAULT_WRITE_CONCURRENCY, gt=0)
    max_workers: int | None = Field(default=None, gt=0)
    redis_cluster_nodes: tuple[str, ...] = ()
    redis_cluster_password: str | None = None

    @field_validator("redis_cluster_nodes")
    @classmethod
    def _check_nodes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for node in value:
            host, sep, port = node.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"cluster node {node!r}: expected host:port")
        return value

    def cluster_nodes(self) -> list[tuple[str, int]]:
        return [(n.rpartition(":")[0], int(n.rpartition(":")[2])) for n in self.redis_cluster_nodes]


def scale_out_from_env(
    env: Mapping[str, str] | None = None, **overrides: object
) -> ScaleOutSettings:
    """Read and validate :class:`ScaleOutSettings`; a bad value is a ConfigError naming it."""
    env = os.environ if env is None else env
    raw: dict[str, object] = {}
    for key, var in (
        ("batch_engine", "NORDLID_FEAST_BATCH_ENGINE"),
        ("offline_store", "NORDLID_FEAST_OFFLINE"),
        ("ray_address", "NORDLID_RAY_ADDRESS"),
        ("redis_cluster_password", "NORDLID_REDIS_CLUSTER_PASSWORD"),
    ):
        if env.get(var):
            raw[key] = env[var]
    concurrency = env.get("NORDLID_FEAST_WRITE_CONCURRENCY")
    if concurrency:
        try:
            raw["write_concurrency"] = int(concurrency)
        except ValueError:
            raise ConfigError(
                f"NORDLID_FEAST_WRITE_CONCURRENCY={concurrency!r}: not an integer"
            ) from None
    nodes = env.get("NORDLID_REDIS_CLUSTER")
    if nodes:
        raw["redis_cluster_nodes"] = tuple(n.strip() for n in nodes.split(",") if n.strip())
    raw.update(overrides)
    try:
        return ScaleOutSettings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"scale-out settings: {problems}") from None


def cluster_connection_string(scale: ScaleOutSettings) -> str:
    """Feast's ``host:port,host:port[,password=...]`` form for ``redis_type: redis_cluster``."""
    parts = list(scale.redis_cluster_nodes)
    if scale.redis_cluster_password:
        parts.append(f"password={scale.redis_cluster_password}")
    return ",".join(parts)


def scale_out_config_dict(
    workdir: Workdir, settings: FeastSettings, scale: ScaleOutSettings
) -> dict[str, Any]:
    """The base repo configuration with the distributed engine, offline and online stores."""
    config = repo_config_dict(settings)
    online = config["online_store"]
    if scale.redis_cluster_nodes:
        online = {
            "type": "redis",
            "redis_type": "redis_cluster",
            "connection_string": cluster_connection_string(scale),
        }
        if settings.redis_skip_dedup:
            online["skip_dedup"] = True
        config["online_store"] = online
    single_file = online.get("type") == "sqlite"
    if scale.batch_engine == "ray":
        engine: dict[str, Any] = {
            "type": "ray.engine",
            # SQLite is one file: parallel writers would only queue on its lock
            "write_concurrency": 1 if single_file else scale.write_concurrency,
            "enable_ray_logging": False,
        }
        if scale.ray_address:
            engine["ray_address"] = scale.ray_address
        if scale.max_workers:
            engine["max_workers"] = scale.max_workers
        config["batch_engine"] = engine
    if scale.offline_store == "ray":
        offline: dict[str, Any] = {
            "type": "ray",
            "storage_path": str(workdir.feast / "ray_storage"),
            "enable_ray_logging": False,
        }
        if scale.ray_address:
            offline["ray_address"] = scale.ray_address
        config["offline_store"] = offline
    return config


def write_scale_out_config(
    workdir: Workdir, settings: FeastSettings, scale: ScaleOutSettings
) -> Path:
    """Write ``<workdir>/data/feast/feature_store.scale_out.yaml`` (usable as ``feast -f``)."""
    workdir.feast.mkdir(parents=True, exist_ok=True)
    path = workdir.feast / SCALE_OUT_YAML
    text = yaml.safe_dump(scale_out_config_dict(workdir, settings, scale), sort_keys=False)
    if not path.exists() or path.read_text() != text:
        atomic_write_text(path, text)
        logger.debug("wrote %s", path)
    return path


def scale_out_store(
    workdir: Workdir, scale: ScaleOutSettings | None = None, settings: FeastSettings | None = None
) -> FeatureStore:
    """A ``FeatureStore`` on the scale-out configuration (same registry and project)."""
    from feast import FeatureStore

    scale = scale if scale is not None else scale_out_from_env()
    settings = settings if settings is not None else settings_from_env(workdir)
    path = write_scale_out_config(workdir, settings, scale)
    return FeatureStore(repo_path=str(REPO_DIR), fs_yaml_file=path)


def materialize_scaled(
    workdir: Workdir,
    scale: ScaleOutSettings | None = None,
    *,
    end: datetime | None = None,
    views: Sequence[str] | None = None,
    settings: FeastSettings | None = None,
) -> MaterializeResult:
    """``materialize-incremental`` on the scale-out configuration, after the same checks as
    :func:`feature_repo.store.materialize` (vector lengths, columns; empty views skipped)."""
    from feature_repo.store import FeatureStoreError, MaterializeResult, view_schema
    from feature_repo.validate import check_views

    fs = scale_out_store(workdir, scale, settings)
    registered = {v.name: v for v in fs.list_feature_views()}
    if not registered:
        raise FeatureStoreError("the feature registry is empty: run `nordlid features apply` first")
    selected = list(registered) if views is None else list(views)
    unknown = [v for v in selected if v not in registered]
    if unknown:
        raise FeatureStoreError(
            f"unknown feature view(s) {', '.join(unknown)}; "
            f"registered: {', '.join(sorted(registered))}"
        )
    rows = check_views([view_schema(registered[v]) for v in selected], cache_dir=workdir.feast)
    end_ts = end if end is not None else datetime.now(UTC)
    if end_ts.tzinfo is None:
        end_ts = end_ts.replace(tzinfo=UTC)
    with_data = [v for v in selected if rows.get(v, 0) > 0]
    if with_data:
        fs.materialize_incremental(end_date=end_ts, feature_views=with_data)
    return MaterializeResult(end=end_ts, rows=rows, materialized=with_data)


def historical_features_scaled(
    workdir: Workdir,
    service: str | Sequence[str],
    entity_df: pd.DataFrame,
    scale: ScaleOutSettings | None = None,
) -> pd.DataFrame:
    """Point-in-time join through the scale-out offline store (``view__feature`` columns)."""
    from feature_repo.store import _service_refs

    fs = scale_out_store(workdir, scale)
    features, _ = _service_refs(fs, service)
    frame = entity_df.copy()
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    job = fs.get_historical_features(entity_df=frame, features=features, full_feature_names=True)
    result: pd.DataFrame = job.to_df()
    return result


def online_features_scaled(
    workdir: Workdir,
    service: str | Sequence[str],
    utterance_ids: Sequence[str],
    scale: ScaleOutSettings | None = None,
) -> pd.DataFrame:
    """Online lookups through Feast on the scale-out online store (Redis Cluster or other)."""
    from feature_repo.store import _online_via_feast

    fs = scale_out_store(workdir, scale)
    return pd.DataFrame(_online_via_feast(fs, service, [str(u) for u in utterance_ids]))


def cluster_client(scale: ScaleOutSettings) -> Any:
    """A ``redis.cluster.RedisCluster`` for the direct read path (``RedisOnlineReader``)."""
    from redis.cluster import ClusterNode, RedisCluster

    if not scale.redis_cluster_nodes:
        raise ConfigError("NORDLID_REDIS_CLUSTER is not set: no Redis Cluster nodes configured")
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in scale.cluster_nodes()],
        password=scale.redis_cluster_password,
    )
