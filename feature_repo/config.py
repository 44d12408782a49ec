"""Turn :class:`FeastSettings` into Feast's repo configuration (a dict, a YAML file)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from feature_repo.settings import FeastSettings
from nordlid.workdir import Workdir

logger = logging.getLogger(__name__)

REPO_DIR = Path(__file__).resolve().parent
"""The Feast repo (definitions discovered by ``feast apply``)."""
GENERATED_YAML = "feature_store.yaml"


def repo_config_dict(settings: FeastSettings) -> dict[str, Any]:
    """The content of a ``feature_store.yaml`` for these settings."""
    online: dict[str, Any]
    if settings.online == "redis":
        assert settings.redis is not None
        online = {
            "type": "redis",
            "connection_string": settings.redis.connection_string(),
        }
        if settings.redis_skip_dedup:
            online["skip_dedup"] = True
    else:
        online = {"type": "sqlite", "path": settings.sqlite_path}
    materialization: dict[str, Any] = {}
    if settings.write_batch_size is not None:
        materialization["online_write_batch_size"] = settings.write_batch_size
    return {
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


def write_config(workdir: Workdir, settings: FeastSettings) -> Path:
    """Write ``<workdir>/data/feast/feature_store.yaml`` (usable as ``feast -f``)."""
    workdir.feast.mkdir(parents=True, exist_ok=True)
    path = workdir.feast / GENERATED_YAML
    text = yaml.safe_dump(repo_config_dict(settings), sort_keys=False)
    if not path.exists() or path.read_text() != text:
        tmp = path.with_suffix(".yaml.tmp")
        tmp.write_text(text)
        tmp.replace(path)
        logger.debug("wrote %s", path)
    return path
