"""Fixtures of the training tests: a tiny Feast repo on a hand-made feature table."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from nordlid.workdir import Workdir

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_feast_store(root: Path, table: pd.DataFrame, vector_length: int) -> Any:
    """A file-offline / SQLite-online Feast store with one view ``toy`` over ``table``."""
    from feast import Entity, FeatureService, FeatureStore, FeatureView, Field, FileSource
    from feast.repo_config import RepoConfig
    from feast.types import Array, Float32
    from feast.value_type import ValueType

    data = root / "toy.parquet"
    table.to_parquet(data, index=False)
    config = RepoConfig(
        project="nordlid_training_test",
        provider="local",
        registry=str(root / "registry.db"),
        online_store={"type": "sqlite", "path": str(root / "online.db")},
        offline_store={"type": "file"},
        entity_key_serialization_version=3,
        repo_path=str(root),
    )
    store = FeatureStore(config=config)
    entity = Entity(name="utterance", join_keys=["utterance_id"], value_type=ValueType.STRING)
    source = FileSource(
        name="toy_source",
        path=str(data),
        timestamp_field="event_timestamp",
        created_timestamp_column="created_timestamp",
    )
    from datetime import timedelta

    view = FeatureView(
        name="toy",
        entities=[entity],
        ttl=timedelta(days=3650),
        schema=[
            Field(name="score", dtype=Float32),
            Field(name="vec", dtype=Array(Float32), vector_length=vector_length),
        ],
        source=source,
    )
    service = FeatureService(name="lid_toy", features=[view])
    store.apply([entity, view, service])
    return store


def feast_fetch(store: Any) -> Callable[[Workdir, str, pd.DataFrame], pd.DataFrame]:
    """The same call ``feature_repo.store.historical_features`` makes, on the test store."""

    def fetch(workdir: Workdir, service: str, entity_df: pd.DataFrame) -> pd.DataFrame:
        fs = store.get_feature_service(service)
        job = store.get_historical_features(
            entity_df=entity_df, features=fs, full_feature_names=True
        )
        out: pd.DataFrame = job.to_df()
        return out

    return fetch


def separable_problem(
    n_per_class: int, labels: list[str], dim: int, seed: int = 0, spread: float = 3.0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, spread, size=(len(labels), dim))
    x = np.concatenate([c + rng.normal(0, 1, size=(n_per_class, dim)) for c in centres])
    y = np.repeat(np.arange(len(labels)), n_per_class)
    return x.astype(np.float32), y


@pytest.fixture()
def t0() -> datetime:
    return T0
