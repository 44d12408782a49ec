"""The Feast plugins (feature_repo/redis_plugin.py): Feast's own CLI writes through them, and
their writes and reads are Feast's Redis store's, byte for byte."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from extractors.spec import ExtractorSpec
from feature_repo import config, redis_plugin, store
from feature_repo.config import REPO_DIR
from nordlid.workdir import Workdir

from .conftest import T0, write_corpus


def test_the_generated_config_selects_the_plugins_only_with_redis(workdir: Workdir) -> None:
    from feast.repo_config import RepoConfig

    from feature_repo.settings import settings_from_env

    embedded = config.repo_config_dict(settings_from_env(workdir, env={}))
    assert embedded["online_store"]["type"] == "sqlite"
    assert "batch_engine" not in embedded  # Feast's local engine, as before
    env = {"REDIS_URL": "redis://127.0.0.1:6379"}
    redis_conf = config.repo_config_dict(settings_from_env(workdir, env=env))
    assert redis_conf["online_store"]["type"] == config.ONLINE_STORE_TYPE
    assert redis_conf["batch_engine"] == {"type": config.ENGINE_TYPE}
    parsed = RepoConfig(repo_path=workdir.feast, **redis_conf)
    assert isinstance(parsed.online_store, redis_plugin.NordlidRedisOnlineStoreConfig)
    assert isinstance(parsed.batch_engine, redis_plugin.NordlidComputeEngineConfig)
    feast_engine = config.repo_config_dict(
        settings_from_env(workdir, env={**env, "NORDLID_FEAST_MATERIALIZE": "feast"})
    )
    assert feast_engine["online_store"]["type"] == config.ONLINE_STORE_TYPE
    assert "batch_engine" not in feast_engine


def _feast_cli(args: list[str], workdir: Workdir, env: dict[str, str]) -> str:
    """Run Feast's CLI on the generated configuration; returns its log (stderr)."""
    feast = Path(sys.executable).with_name("feast")
    yaml = workdir.feast / "feature_store.yaml"
    run_env = {**os.environ, **env, "NORDLID_WORKDIR": str(workdir.root)}
    run_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_DIR.parent), os.environ.get("PYTHONPATH")) if p
    )
    done = subprocess.run(
        [str(feast), "--log-level", "INFO", "-c", str(REPO_DIR), "-f", str(yaml), *args],
        env=run_env,
        cwd=workdir.feast,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stderr


@pytest.mark.integration
def test_feast_materialize_writes_through_the_plugin_and_reads_back_the_same_values(
    redis_store: tuple[Workdir, str], test_specs: list[ExtractorSpec], redis_url: str
) -> None:
    workdir, project = redis_store
    corpus = write_corpus(workdir, test_specs, n=9)
    applied = store.apply(workdir)
    generated = applied.config_path.read_text()
    assert f"type: {config.ONLINE_STORE_TYPE}" in generated
    assert f"type: {config.ENGINE_TYPE}" in generated

    end = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    start = (T0 - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    log = _feast_cli(
        ["materialize", start, end],
        workdir,
        {"REDIS_URL": redis_url, "NORDLID_FEAST_PROJECT": project},
    )
    for view in applied.views:
        # the plugin engine's direct writer, not Feast's per-value conversion
        assert f"{view}: 9 rows written from Parquet" in log, log

    ids = [*corpus.ids, "nope"]
    refs = ["lidnet:embedding", "acoustic:mfcc_mean", "acoustic:speech_ratio", "acoustic:n_frames"]
    fs = store.get_store(workdir)
    via_feast = store._online_via_feast(fs, refs, ids)  # get_online_features → plugin
    direct = store.online_features(workdir, refs, ids)  # nordlid's reader
    assert via_feast["found"] == [True] * 9 + [False]
    assert direct["found"].tolist() == via_feast["found"]
    for ref in refs:
        view, feature = ref.split(":")
        column = f"{view}__{feature}"
        spec = next(s for s in test_specs if s.view_name == view)
        expected = corpus.tables[spec.name].column(feature).to_pylist()
        for i, want in enumerate(expected):
            assert np.allclose(via_feast[column][i], want), (column, i)
            assert np.allclose(direct[column].iloc[i], want), (column, i)
        assert via_feast[column][-1] is None

    # Feast's feature server (what `feast serve` runs) reads through the plugin too
    from fastapi.testclient import TestClient
    from feast.feature_server import get_app

    before = redis_plugin.READS["packed"]
    with TestClient(get_app(fs)) as client:
        reply = client.post(
            "/get-online-features",
            json={"features": ["lidnet:embedding"], "entities": {"utterance_id": ids[:3]}},
        )
    assert reply.status_code == 200, reply.text
    assert redis_plugin.READS["packed"] == before + 3
    names = reply.json()["metadata"]["feature_names"]
    served = reply.json()["results"][names.index("embedding")]["values"]
    want = corpus.tables["lidnet"].column("embedding").to_pylist()[:3]
    assert np.allclose(np.asarray(served, np.float32), np.asarray(want, np.float32))


def _repo_config(
    project: str, redis_url: str, online_type: str, tmp: Path, skip_dedup: bool
) -> Any:
    from feast.repo_config import RepoConfig

    online = {"type": online_type, "connection_string": redis_url.split("//", 1)[1]}
    return RepoConfig(
        project=project,
        provider="local",
        registry=str(tmp / f"{project}.db"),
        online_store={**online, "skip_dedup": skip_dedup},
        entity_key_serialization_version=3,
    )


def _view() -> Any:
    from feast import Entity, FeatureView, Field, FileSource
    from feast.types import Array, Float32, Int64

    return FeatureView(
        name="plugin_view",
        entities=[Entity(name="utterance", join_keys=["utterance_id"])],
        schema=[Field(name="vec", dtype=Array(Float32)), Field(name="n", dtype=Int64)],
        source=FileSource(path="unused.parquet", timestamp_field="event_timestamp"),
    )


def _rows(seed: int) -> list[tuple[Any, dict[str, Any], datetime, None]]:
    """Rows with repeated entities (older, equal and newer times within one batch)."""
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import FloatList
    from feast.protos.feast.types.Value_pb2 import Value as ValueProto

    rng = np.random.default_rng(seed)
    rows = []
    for uid, minutes in [("a", 5), ("b", 1), ("a", 9), ("a", 9), ("c", 0), ("b", 0)]:
        key = EntityKey(join_keys=["utterance_id"], entity_values=[ValueProto(string_val=uid)])
        values = {
            "vec": ValueProto(float_list_val=FloatList(val=rng.standard_normal(4).tolist())),
            "n": ValueProto(int64_val=int(rng.integers(100))),
        }
        rows.append((key, values, T0 + timedelta(minutes=minutes), None))
    return rows


@pytest.fixture()
def projects(redis_url: str) -> Iterator[list[str]]:
    import redis

    names = [f"nordlid_t{uuid.uuid4().hex[:10]}" for _ in range(2)]
    yield names
    client = redis.Redis.from_url(redis_url)
    for name in names:
        keys = list(client.scan_iter(match=b"*" + name.encode()))
        if keys:
            client.delete(*keys)
    client.close()


@pytest.mark.integration
@pytest.mark.parametrize("skip_dedup", [False, True])
def test_online_write_batch_and_online_read_match_feasts_redis_store(
    redis_url: str, projects: list[str], tmp_path: Path, skip_dedup: bool
) -> None:
    import redis
    from feast.infra.online_stores.redis import RedisOnlineStore

    stock_cfg = _repo_config(projects[0], redis_url, "redis", tmp_path, skip_dedup)
    plugin_cfg = _repo_config(
        projects[1], redis_url, config.ONLINE_STORE_TYPE, tmp_path, skip_dedup
    )
    view = _view()
    stock, plugin = RedisOnlineStore(), redis_plugin.NordlidRedisOnlineStore()
    before = redis_plugin.WRITES["packed"]
    for seed, when in ((0, 0), (1, 3)):  # the second batch is partly older than the first
        rows = [(k, v, t + timedelta(minutes=when), c) for k, v, t, c in _rows(seed)]
        stock.online_write_batch(stock_cfg, view, rows, None)
        plugin.online_write_batch(plugin_cfg, view, rows, None)
    assert redis_plugin.WRITES["packed"] > before

    client = redis.Redis.from_url(redis_url)
    try:
        dumps = [
            {k[: -len(p)]: client.hgetall(k) for k in client.scan_iter(match=b"*" + p.encode())}
            for p in projects
        ]
    finally:
        client.close()
    assert len(dumps[0]) == 3
    assert dumps[1] == dumps[0]

    keys = [k for k, _, _, _ in _rows(0)][:5]
    for requested in (None, ["n"], ["vec", "n"]):
        # Feast's store appends "_ts:<view>" to the list it is given: each gets a copy
        want = stock.online_read(stock_cfg, view, keys, requested and list(requested))
        got = plugin.online_read(plugin_cfg, view, keys, requested and list(requested))
        assert got == want
