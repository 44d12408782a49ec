"""Feast on Ray: materialization with the Ray batch engine, reads through the Ray offline store."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
import yaml

from feature_repo import store
from feature_repo.scale_out import (
    ScaleOutSettings,
    historical_features_scaled,
    materialize_scaled,
    scale_out_from_env,
    write_scale_out_config,
)
from feature_repo.settings import settings_from_env
from nordlid.errors import ConfigError
from nordlid.workdir import Workdir

from .conftest import write_small_repo


def test_scale_out_config_names_feasts_ray_engine_and_stores(workdir: Workdir) -> None:
    settings = settings_from_env(workdir, env={})
    scale = scale_out_from_env(
        {
            "NORDLID_RAY_ADDRESS": "ray://head:10001",
            "NORDLID_FEAST_WRITE_CONCURRENCY": "8",
            "NORDLID_REDIS_CLUSTER": "10.0.0.1:7000, 10.0.0.2:7000",
        }
    )
    path = write_scale_out_config(workdir, settings, scale)
    config = yaml.safe_load(path.read_text())
    assert config["batch_engine"] == {
        "type": "ray.engine",
        "write_concurrency": 8,
        "enable_ray_logging": False,
        "ray_address": "ray://head:10001",
    }
    assert config["offline_store"]["type"] == "ray"
    assert config["online_store"] == {
        "type": "redis",
        "redis_type": "redis_cluster",
        "connection_string": "10.0.0.1:7000,10.0.0.2:7000",
    }
    assert config["materialization"]["online_write_batch_size"] == settings.write_batch_size
    # Feast itself accepts the file
    from feast.repo_config import RepoConfig

    parsed = RepoConfig(repo_path=workdir.feast, **config)
    assert type(parsed.batch_engine).__name__ == "RayComputeEngineConfig"
    assert type(parsed.offline_store).__name__ == "RayOfflineStoreConfig"

    # SQLite is one file: one writer, whatever the setting says
    sqlite = yaml.safe_load(
        write_scale_out_config(workdir, settings, ScaleOutSettings(write_concurrency=8)).read_text()
    )
    assert sqlite["batch_engine"]["write_concurrency"] == 1
    assert sqlite["online_store"]["type"] == "sqlite"

    with pytest.raises(ConfigError, match="NORDLID_FEAST_WRITE_CONCURRENCY"):
        scale_out_from_env({"NORDLID_FEAST_WRITE_CONCURRENCY": "many"})
    with pytest.raises(ConfigError, match="redis_cluster_nodes"):
        scale_out_from_env({"NORDLID_REDIS_CLUSTER": "10.0.0.1"})
    with pytest.raises(ConfigError, match="batch_engine"):
        scale_out_from_env({"NORDLID_FEAST_BATCH_ENGINE": "spark"})


def test_materialize_and_read_through_ray(ray_local: None, feast_project) -> None:
    workdir, _ = feast_project
    tables = write_small_repo(workdir, list(_specs()))
    store.apply(workdir)
    scale = ScaleOutSettings(batch_engine="ray", offline_store="ray")
    result = materialize_scaled(workdir, scale, views=["acoustic", "lidnet"])
    assert result.materialized == ["acoustic", "lidnet"]

    ids = tables["lidnet"].column("utterance_id").to_pylist()
    online = store.online_features(workdir, "lid_lidnet", ids)
    assert online["found"].all()
    want = tables["lidnet"].column("embedding").to_pylist()
    for got, exp in zip(online["lidnet__embedding"], want, strict=True):
        np.testing.assert_array_equal(got, np.asarray(exp, np.float32))
    acoustic = store.online_features(workdir, "lid_acoustic", ids)
    assert (
        acoustic["acoustic__n_frames"].tolist() == tables["acoustic"].column("n_frames").to_pylist()
    )

    # the point-in-time join on Ray gives what the file offline store gives
    entity_df = pd.DataFrame({"utterance_id": ids[::-1], "event_timestamp": datetime.now(UTC)})
    on_ray = historical_features_scaled(workdir, "lid_acoustic", entity_df, scale)
    on_file = store.historical_features(workdir, "lid_acoustic", entity_df)
    on_ray = on_ray.set_index("utterance_id").loc[ids[::-1]]
    for col in ("acoustic__mfcc_mean", "acoustic__speech_ratio", "acoustic__n_frames"):
        for a, b in zip(on_ray[col], on_file[col], strict=True):
            np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64))


def _specs():
    from extractors.registry import all_specs

    return all_specs()
