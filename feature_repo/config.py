"""Turn :class:`FeastSettings` into Feast's repo configuration (a dict, a YAML file).

With ``REDIS_URL`` the online store is nordlid's Redis plugin (Feast's Redis store with the
batched writer and reader, :mod:`feature_repo.redis_plugin`) and, unless
``NORDLID_FEAST_MATERIALIZE=feast``, the batch engine is the plugin engine that writes
Parquet views straight to Redis; so ``feast materialize`` / ``feast serve`` on the generated
file take the same fast paths as ``nordlid features``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from feature_repo.settings import FeastSettings
from nordlid.atomic import atomic_write_text
from nordlid.workdir import Workdir

logger = logging.getLogger(__name__)

ONLINE_STORE_TYPE = "feature_repo.redis_plugin.NordlidRedisOnlineStore"
"""``online_store.type`` of the Redis plugin (Feast imports it by this dotted path)."""
ENGINE_TYPE = "feature_repo.redis_plugin.NordlidComputeEngine"
"""``batch_engine.type`` of the engine that materializes Parquet views with the direct writer."""

REPO_DIR = Path(__file__).resolve().parent
"""The Feast repo (definitions discovered by ``feast apply``)."""
GENERATED_YAML = "feature_store.yaml"


def repo_config_dict(settings: FeastSettings) -> dict[str, Any]:
    """The content of a ``feature_store.yaml`` for these settings."""
    online: dict[str, Any]
    if settings.online == "redis":
        assert settings.redis is not None
        online = {
            "type": ONLINE_STORE_TYPE,
            "connection_string": settings.redis.connection_string(),
        }
        if settings.redis_skip_dedup:
            online["skip_dedup"] = True
    else:
        online = {"type": "sqlite", "path": settings.sqlite_path}
    materialization: dict[str, Any] = {}
    if settings.write_batch_size is not None:
        materialization["online_write_batch_size"] = settings.write_batch_size
    config: dict[str, Any] = {
        "project": settings.project,
        "provider": "local",
        "registry": {
            "registry_type": "sql",
            "path": settings.registry_url,
            "cache_ttl_seconds": 60,
            "sqlalchemy_config_kwargs": {"echo": False, "pool_pre_ping": True},
            "serve_features_while_materializing": settings.serve_while_materializing,
        },
        "online_store": online,
        "offline_store": {"type": "file"},
        "entity_key_serialization_version": 3,
        "materialization": materialization,
    }
    if settings.online == "redis" and settings.materialize_engine == "direct":
        config["batch_engine"] = {"type": ENGINE_TYPE}
    return config


def write_config(workdir: Workdir, settings: FeastSettings) -> Path:
    """Write ``<workdir>/data/feast/feature_store.yaml`` (usable as ``feast -f``)."""
    workdir.feast.mkdir(parents=True, exist_ok=True)
    path = workdir.feast / GENERATED_YAML
    text = yaml.safe_dump(repo_config_dict(settings), sort_keys=False)
    if not path.exists() or path.read_text() != text:
        atomic_write_text(path, text)
        logger.debug("wrote %s", path)
    return path
