"""Fixtures for the Feast feature repo tests: small extractor specs, synthetic feature tables,
an isolated Feast project per test (SQLite in the test's work directory, or the real Redis)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from extractors import registry
from extractors.spec import ExtractorSpec, FeatureColumn
from nordlid.workdir import Workdir

T0 = datetime(2025, 3, 1, tzinfo=UTC)

TEST_SPECS: tuple[ExtractorSpec, ...] = (
    ExtractorSpec(
        name="acoustic",
        version="t1",
        columns=(
            FeatureColumn("mfcc_mean", length=6),
            FeatureColumn("speech_ratio", dtype="float32"),
            FeatureColumn("pitch_hz", dtype="float64"),
            FeatureColumn("n_frames", dtype="int64"),
        ),
    ),
    ExtractorSpec(
        name="lidnet",
        version="t1",
        columns=(FeatureColumn("embedding", length=16),),
    ),
    ExtractorSpec(
        name="whisper-tiny",
        version="t1",
        columns=(FeatureColumn("layer02_mean", length=12), FeatureColumn("layer02_std", length=12)),
    ),
)


@pytest.fixture()
def test_specs(monkeypatch: pytest.MonkeyPatch) -> list[ExtractorSpec]:
    """The extractor registry holds exactly TEST_SPECS for this test (restored afterwards)."""
    entries = {
        s.name: registry.RegistryEntry(
            name=s.name, spec=lambda s=s: s, factory="extractors.base:Extractor", description=""
        )
        for s in TEST_SPECS
    }
    monkeypatch.setattr(registry, "_ENTRIES", entries)
    monkeypatch.setattr(registry, "_loaded", True)
    return list(TEST_SPECS)


def feature_rows(
    spec: ExtractorSpec,
    ids: list[str],
    *,
    event: datetime = T0,
    created: datetime | None = None,
    seed: int = 0,
    lengths: dict[str, int] | None = None,
) -> pa.Table:
    """A feature table for ``spec`` with random values (vector lengths overridable)."""
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {
        "utterance_id": ids,
        "event_timestamp": [event] * len(ids),
        "created_timestamp": [created or event] * len(ids),
    }
    for c in spec.columns:
        n = (lengths or {}).get(c.name, c.length)
        if n is not None:
            cols[c.name] = [rng.standard_normal(n).astype(np.float32) for _ in ids]
        elif c.dtype == "int64":
            cols[c.name] = rng.integers(0, 1000, len(ids))
        elif c.dtype == "string":
            cols[c.name] = [f"s{i}" for i in range(len(ids))]
        else:
            cols[c.name] = rng.standard_normal(len(ids)).astype(c.dtype)
    return pa.Table.from_pydict(cols, schema=spec.arrow_schema())


def write_features(workdir: Workdir, table: pa.Table, extractor: str, part: str = "0") -> Path:
    out = workdir.feature_dir(extractor)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"part-{part}.parquet"
    pq.write_table(table, path)
    return path


def write_labels(workdir: Workdir, ids: list[str], event: datetime = T0) -> Path:
    langs = ["da", "fo", "is", "no", "sv"]
    frame = pd.DataFrame(
        {
            "utterance_id": ids,
            "language": [langs[i % 5] for i in range(len(ids))],
            "split": ["train"] * len(ids),
            "source": ["synthetic"] * len(ids),
            "speaker_id": [f"spk{i % 3}" for i in range(len(ids))],
            "gender": [None if i % 4 == 0 else "female" for i in range(len(ids))],
            "duration_s": np.linspace(1.0, 3.0, len(ids)),
            "event_timestamp": pd.to_datetime([event] * len(ids), utc=True),
        }
    )
    workdir.validated_manifest.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(workdir.validated_manifest, index=False)
    return workdir.validated_manifest


@dataclass
class Corpus:
    ids: list[str]
    tables: dict[str, pa.Table]


def write_corpus(workdir: Workdir, specs: list[ExtractorSpec], n: int = 12) -> Corpus:
    ids = [f"utt{i:04d}" for i in range(n)]
    tables = {}
    for k, spec in enumerate(specs):
        tables[spec.name] = feature_rows(spec, ids, seed=k)
        write_features(workdir, tables[spec.name], spec.name)
    write_labels(workdir, ids)
    return Corpus(ids=ids, tables=tables)


@pytest.fixture()
def sqlite_store(
    workdir: Workdir, test_specs: list[ExtractorSpec], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Workdir]:
    """Embedded configuration (SQLite registry + online store) in the test's work directory."""
    from feature_repo import store

    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("NORDLID_FEAST_REGISTRY", raising=False)
    monkeypatch.setenv("NORDLID_FEAST_PROJECT", "nordlid_test")
    yield workdir
    store.close(workdir)


@pytest.fixture()
def redis_store(
    workdir: Workdir,
    test_specs: list[ExtractorSpec],
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Workdir, str]]:
    """Redis online store with a project name of its own; its keys are removed afterwards."""
    import redis

    from feature_repo import store

    project = f"nordlid_t{uuid.uuid4().hex[:10]}"
    monkeypatch.delenv("NORDLID_FEAST_REGISTRY", raising=False)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("NORDLID_FEAST_PROJECT", project)
    yield workdir, project
    try:
        store.get_store(workdir).teardown()
    finally:
        store.close(workdir)
        client = redis.Redis.from_url(redis_url)
        leftovers = list(client.scan_iter(match=b"*" + project.encode()))
        if leftovers:
            client.delete(*leftovers)
        client.close()
