"""Apply, materialize and read back through both online stores (SQLite embedded, real Redis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from extractors.spec import ExtractorSpec
from feature_repo import store
from nordlid.workdir import Workdir

from .conftest import T0, feature_rows, write_corpus, write_features


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) and all(isinstance(x, str) for x in a):
        return a == b
    if isinstance(a, (list, np.ndarray)) or isinstance(b, (list, np.ndarray)):
        x, y = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
        return x.shape == y.shape and bool(np.array_equal(x, y))
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (np.isnan(a) and np.isnan(b))
    if a is None or b is None or (isinstance(a, float) and np.isnan(a)):
        return (a is None or pd.isna(a)) and (b is None or pd.isna(b))
    return bool(a == b)


def _round_trip(workdir: Workdir, specs: list[ExtractorSpec]) -> None:
    corpus = write_corpus(workdir, specs)
    result = store.apply(workdir)
    assert "lid_premium" in result.services and "whisper_tiny" in result.views
    first = store.materialize(workdir)
    assert set(first.materialized) == {"utterance_labels", "acoustic", "lidnet", "whisper_tiny"}

    # the online store holds exactly what the files hold
    ids = corpus.ids[:5]
    online = store.online_features(workdir, "lid_whisper_tiny", ids)
    assert online["found"].tolist() == [True] * 5
    expected = corpus.tables["whisper-tiny"].column("layer02_std").to_pylist()[:5]
    for got, want in zip(online["whisper_tiny__layer02_std"], expected, strict=True):
        assert got.dtype == np.float32 and np.array_equal(got, np.asarray(want, np.float32))

    # training-serving parity: every feature of the services, identical offline and online
    for service in (
        "lid_premium",
        "lid_whisper_tiny",
        ["utterance_labels:language", "utterance_labels:gender", "utterance_labels:duration_s"],
    ):
        entity_df = pd.DataFrame(
            {"utterance_id": corpus.ids, "event_timestamp": datetime.now(UTC), "note": "kept"}
        )
        offline = store.historical_features(workdir, service, entity_df)
        assert offline["utterance_id"].tolist() == corpus.ids and (offline["note"] == "kept").all()
        online = store.online_features(workdir, service, corpus.ids)
        feature_cols = [c for c in online.columns if "__" in c]
        assert feature_cols and offline["found"].all() and online["found"].all()
        for col in feature_cols:
            for i, (a, b) in enumerate(zip(offline[col], online[col], strict=True)):
                assert _same(a, b), f"{service} {col} row {i}: offline {a!r} != online {b!r}"

    # an unknown utterance is reported missing, its features are null (never zeros)
    for service, view, cols in (
        ("lid_premium", "lidnet", ("lidnet__embedding",)),
        (
            "lid_mini",
            "acoustic",
            ("acoustic__mfcc_mean", "acoustic__speech_ratio", "acoustic__n_frames"),
        ),
    ):
        mixed = store.online_features(workdir, service, [corpus.ids[0], "no-such-utterance"])
        assert mixed["found"].tolist() == [True, False]
        assert mixed["missing_views"].iloc[1] == [view]
        missing_row = mixed.iloc[1]
        for col in cols:
            assert missing_row[col] is None or pd.isna(missing_row[col])

    # re-running materialize is idempotent
    before = store.online_features(workdir, "lid_premium", corpus.ids)
    again = store.materialize(workdir)
    assert again.rows == first.rows
    after = store.online_features(workdir, "lid_premium", corpus.ids)
    for col in before.columns:
        for a, b in zip(before[col], after[col], strict=True):
            assert _same(a, b)


def test_sqlite_round_trip_parity_missing_and_idempotent(
    sqlite_store: Workdir, test_specs: list[ExtractorSpec]
) -> None:
    _round_trip(sqlite_store, test_specs)
    assert (sqlite_store.feast / "registry.db").exists()
    assert (sqlite_store.feast / "online_store.db").exists()


@pytest.mark.integration
def test_redis_round_trip_parity_missing_and_idempotent(
    redis_store: tuple[Workdir, str], test_specs: list[ExtractorSpec], redis_url: str
) -> None:
    import redis

    workdir, project = redis_store
    _round_trip(workdir, test_specs)
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=b"*" + project.encode()))
    assert len(keys) == 12  # one hash per utterance holds every view
    # the direct reader and Feast's own get_online_features agree value for value
    ids = [k for k in ["utt0003", "utt0007", "nope"]]
    fast = store.online_features(workdir, "lid_premium", ids)
    via_feast = store._online_via_feast(store.get_store(workdir), "lid_premium", ids)
    for col in fast.columns:
        for a, b in zip(fast[col], via_feast[col], strict=True):
            assert _same(a, b), col
    store.get_store(workdir).teardown()
    assert list(client.scan_iter(match=b"*" + project.encode())) == []


def test_point_in_time_join_picks_the_row_valid_at_the_entity_timestamp(
    sqlite_store: Workdir, test_specs: list[ExtractorSpec]
) -> None:
    workdir = sqlite_store
    spec = next(s for s in test_specs if s.name == "lidnet")
    ids = ["a", "b"]
    t1, t2 = T0, T0 + timedelta(days=10)
    old = feature_rows(spec, ids, event=t1, seed=1)
    new = feature_rows(spec, ["a"], event=t2, created=t2 + timedelta(hours=1), seed=2)
    # same event time, written twice: the later created_timestamp wins
    fix = feature_rows(spec, ["b"], event=t1, created=t1 + timedelta(hours=5), seed=3)
    write_features(workdir, old, "lidnet", "old")
    write_features(workdir, new, "lidnet", "new")
    write_features(workdir, fix, "lidnet", "fix")
    store.apply(workdir)
    entity_df = pd.DataFrame(
        {
            "utterance_id": ["a", "a", "a", "b"],
            "event_timestamp": [
                t1 - timedelta(days=1),
                t1 + timedelta(days=1),
                t2 + timedelta(days=1),
                t2,
            ],
        }
    )
    got = store.historical_features(workdir, "lid_lidnet", entity_df)
    vec = got["lidnet__embedding"].tolist()
    assert got["found"].tolist() == [False, True, True, True]
    assert vec[0] is None or (np.ndim(vec[0]) == 0 and pd.isna(vec[0]))
    old_a = np.asarray(old.column("embedding")[0].as_py(), np.float32)
    assert np.array_equal(np.asarray(vec[1], np.float32), old_a)
    assert np.array_equal(
        np.asarray(vec[2], np.float32), np.asarray(new.column("embedding")[0].as_py(), np.float32)
    )
    assert np.array_equal(
        np.asarray(vec[3], np.float32), np.asarray(fix.column("embedding")[0].as_py(), np.float32)
    )

    # Feast's file store breaks such created-time ties with an unstable sort; the store
    # repairs them: a result holding the older row for "b" is set to the rewritten one
    wrong = got.copy()
    wrong.at[3, "lidnet__embedding"] = np.asarray(old.column("embedding")[1].as_py(), np.float32)
    store._fix_created_ties(store.get_store(workdir), "lidnet", wrong, ["lidnet__embedding"])
    assert np.array_equal(
        np.asarray(wrong["lidnet__embedding"][3], np.float32),
        np.asarray(fix.column("embedding")[0].as_py(), np.float32),
    )
    assert np.array_equal(np.asarray(wrong["lidnet__embedding"][1], np.float32), old_a)

    # online serves the latest row of each utterance
    store.materialize(workdir, views=["lidnet"])
    online = store.online_features(workdir, "lid_lidnet", ["a", "b"])
    assert np.array_equal(online["lidnet__embedding"][0], np.asarray(vec[2], np.float32))
    assert np.array_equal(online["lidnet__embedding"][1], np.asarray(vec[3], np.float32))


def test_wrong_vector_length_fails_naming_view_feature_and_both_lengths(
    sqlite_store: Workdir, test_specs: list[ExtractorSpec]
) -> None:
    from feature_repo.validate import FeatureTableError

    workdir = sqlite_store
    spec = next(s for s in test_specs if s.name == "whisper-tiny")
    write_features(workdir, feature_rows(spec, ["x", "y"]), "whisper-tiny", "good")
    bad = feature_rows(spec, ["z"], lengths={"layer02_std": 10})
    path = write_features(workdir, bad, "whisper-tiny", "bad")
    store.apply(workdir)
    with pytest.raises(FeatureTableError) as err:
        store.materialize(workdir)
    message = str(err.value)
    for part in ("'whisper_tiny'", "'layer02_std'", "length 10", "vector_length 12", path.name):
        assert part in message, message
    # nothing was written for that view
    assert store.online_features(workdir, "lid_whisper_tiny", ["x"])["found"].tolist() == [False]


def test_push_serves_new_utterances_online_and_optionally_offline(
    sqlite_store: Workdir, test_specs: list[ExtractorSpec]
) -> None:
    from feature_repo.store import FeatureStoreError

    workdir = sqlite_store
    write_corpus(workdir, test_specs, n=3)
    store.apply(workdir)
    store.materialize(workdir)
    spec = next(s for s in test_specs if s.name == "lidnet")
    rows = feature_rows(spec, ["served-1", "served-2"], event=datetime.now(UTC)).to_pandas()
    assert store.push(workdir, "lidnet", rows) == 2
    online = store.online_features(workdir, "lid_lidnet", ["served-1", "served-2"])
    assert online["found"].all()
    assert np.array_equal(online["lidnet__embedding"][1], np.asarray(rows["embedding"][1]))
    offline = store.historical_features(
        workdir,
        "lid_lidnet",
        pd.DataFrame({"utterance_id": ["served-1"], "event_timestamp": [datetime.now(UTC)]}),
    )
    assert offline["found"].tolist() == [False]  # online only

    store.push(workdir, "lidnet", rows.iloc[:1], to="online_and_offline")
    offline = store.historical_features(
        workdir,
        "lid_lidnet",
        pd.DataFrame(
            {
                "utterance_id": ["served-1"],
                "event_timestamp": [datetime.now(UTC) + timedelta(seconds=1)],
            }
        ),
    )
    assert offline["found"].tolist() == [True]
    assert np.array_equal(
        np.asarray(offline["lidnet__embedding"][0], np.float32), np.asarray(rows["embedding"][0])
    )

    short = rows.copy()
    short["embedding"] = [np.zeros(3, np.float32)] * 2
    with pytest.raises(FeatureStoreError, match="'embedding'.*length 3.*vector_length 16"):
        store.push(workdir, "lidnet", short)


def test_unknown_service_is_a_clear_error(
    sqlite_store: Workdir, test_specs: list[ExtractorSpec]
) -> None:
    from feature_repo.store import FeatureStoreError

    store.apply(sqlite_store)
    with pytest.raises(FeatureStoreError, match="unknown feature service 'lid_nope'"):
        store.online_features(sqlite_store, "lid_nope", ["x"])


@pytest.mark.integration
def test_direct_redis_materialization_writes_exactly_what_feast_writes(
    workdir: Workdir,
    test_specs: list[ExtractorSpec],
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import uuid

    import redis

    corpus = write_corpus(workdir, test_specs, n=6)
    lidnet = next(s for s in test_specs if s.name == "lidnet")
    # a re-extraction (later event time) and a rewrite (same event time, later created time)
    write_features(
        workdir,
        feature_rows(lidnet, [corpus.ids[0]], event=T0 + timedelta(days=2), seed=11),
        "lidnet",
        "reextract",
    )
    write_features(
        workdir,
        feature_rows(lidnet, [corpus.ids[1]], event=T0, created=T0 + timedelta(hours=3), seed=12),
        "lidnet",
        "rewrite",
    )
    client = redis.Redis.from_url(redis_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    dumps: dict[str, dict[bytes, Any]] = {}
    projects = {}
    try:
        for engine in ("feast", "direct"):
            project = projects[engine] = f"nordlid_t{uuid.uuid4().hex[:10]}"
            monkeypatch.setenv("NORDLID_FEAST_PROJECT", project)
            monkeypatch.setenv("NORDLID_FEAST_MATERIALIZE", engine)
            store.apply(workdir)
            store.materialize(workdir)
            suffix = project.encode()
            dumps[engine] = {
                k[: -len(suffix)]: client.hgetall(k) for k in client.scan_iter(match=b"*" + suffix)
            }
            # a second run writes nothing new and changes nothing
            store.materialize(workdir)
            assert {
                k[: -len(suffix)]: client.hgetall(k) for k in client.scan_iter(match=b"*" + suffix)
            } == dumps[engine]
        assert len(dumps["feast"]) == 6
        assert dumps["direct"] == dumps["feast"]
    finally:
        for project in projects.values():
            keys = list(client.scan_iter(match=b"*" + project.encode()))
            if keys:
                client.delete(*keys)
        store.close(workdir)
        client.close()


def _postgres_url() -> str | None:
    import socket

    try:
        import psycopg  # noqa: F401
    except ImportError:
        return None
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1.0):
            pass
    except OSError:
        return None
    return "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.mark.integration
def test_postgresql_registry_for_a_shared_deployment(
    workdir: Workdir, test_specs: list[ExtractorSpec], monkeypatch: pytest.MonkeyPatch
) -> None:
    import uuid

    url = _postgres_url()
    if url is None:
        pytest.skip("PostgreSQL on 127.0.0.1:5432 (and psycopg) not available")
    project = f"nordlid_t{uuid.uuid4().hex[:10]}"
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("NORDLID_FEAST_REGISTRY", url)
    monkeypatch.setenv("NORDLID_FEAST_PROJECT", project)
    corpus = write_corpus(workdir, test_specs, n=4)
    try:
        store.apply(workdir)
        store.materialize(workdir)
        assert not (workdir.feast / "registry.db").exists()
        online = store.online_features(workdir, "lid_mini", corpus.ids)
        assert online["found"].all()
        # a second client of the same registry sees the same definitions
        store.close(workdir)
        views = {v.name for v in store.get_store(workdir).list_feature_views()}
        assert views == {"utterance_labels", "acoustic", "lidnet", "whisper_tiny"}
    finally:
        from feast.errors import ProjectObjectNotFoundException

        fs = store.get_store(workdir)
        fs.teardown()
        try:
            fs.registry.delete_project(project, commit=True)
        except ProjectObjectNotFoundException:
            pass  # teardown already removed it
        store.close(workdir)
