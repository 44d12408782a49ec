"""The direct Redis writer: row selection, Feast's byte layout, batches, the newer-than-stored
check and errors (the Redis tests use the real Redis with a project name of their own)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from extractors.spec import ExtractorSpec
from feature_repo import config, redis_plugin, store
from feature_repo import redis_writer as rw
from feature_repo.online import EntityKeyEncoder
from nordlid.workdir import Workdir

from .conftest import T0, feature_rows, write_corpus, write_features


def _keys_table(ids: list[str], events: list[datetime], created: list[datetime]) -> pa.Table:
    ts = pa.timestamp("us", tz="UTC")
    return pa.table(
        {
            "utterance_id": pa.array(ids, pa.string()),
            "event_timestamp": pa.array(events, ts),
            "created_timestamp": pa.array(created, ts),
            "value": pa.array(range(len(ids)), pa.int64()),
        }
    )


def _picked(selection: list[rw.FileRows]) -> dict[str, tuple[str, int]]:
    return {
        uid: (part.path.name, int(row))
        for part in selection
        for uid, row in zip(part.ids, part.rows, strict=True)
    }


def test_select_rows_takes_the_latest_row_per_utterance_inside_the_interval(
    tmp_path: Path,
) -> None:
    day = timedelta(days=1)
    first = tmp_path / "part-0.parquet"
    second = tmp_path / "part-1.parquet"
    pq.write_table(
        _keys_table(
            ["a", "b", "c", "d", "e", "a"],
            [T0, T0, T0, T0 - 30 * day, T0, T0 + day],
            [T0, T0 + day, T0, T0, T0, T0],
        ),
        first,
        row_group_size=2,
    )
    pq.write_table(
        _keys_table(
            ["b", "c", "e", "f"],
            [T0, T0, T0 + 40 * day, T0],
            [T0, T0, T0, T0],
        ),
        second,
    )
    selection = rw.select_rows([first, second], T0 - day, T0 + 2 * day)
    assert _picked(selection) == {
        "a": ("part-0.parquet", 5),  # later event time
        "b": ("part-0.parquet", 1),  # same event time, later created time
        "c": ("part-1.parquet", 1),  # a full tie: the later file
        "e": ("part-0.parquet", 4),  # its later row is after the interval
        "f": ("part-1.parquet", 3),
    }  # "d" is before the interval
    for part in selection:
        assert list(part.rows) == sorted(part.rows)
    by_id = {u: m for part in selection for u, m in zip(part.ids, part.micros, strict=True)}
    assert by_id["a"] == rw.to_micros(T0 + day)

    unique = rw.select_rows([second], T0 - day, T0 + day)
    assert _picked(unique) == {
        "b": ("part-1.parquet", 0),
        "c": ("part-1.parquet", 1),
        "f": ("part-1.parquet", 3),
    }
    assert rw.select_rows([second], T0 + 50 * day, T0 + 60 * day) == []


def test_a_non_timestamp_event_time_names_the_file_and_column(tmp_path: Path) -> None:
    from nordlid.errors import NordlidError

    path = tmp_path / "part-0.parquet"
    pq.write_table(pa.table({"utterance_id": ["a"], "event_timestamp": ["2025-03-01"]}), path)
    with pytest.raises(NordlidError, match="part-0.parquet: column 'event_timestamp' is string"):
        rw.select_rows([path], T0, T0)


def _feast_bytes(column: pa.Array, value_type: Any) -> list[bytes]:
    """A column's values as Feast's materialization serializes them."""
    from feast.type_map import python_values_to_proto_values

    values = python_values_to_proto_values(column.to_numpy(zero_copy_only=False), value_type)
    return [bytes(v.SerializeToString()) for v in values]


def _parse_commands(data: bytes) -> list[list[bytes]]:
    import hiredis

    reader = hiredis.Reader()
    reader.feed(data)
    commands = []
    while (command := reader.gets()) is not False:
        commands.append(command)
    return commands


def test_encoded_hset_holds_feasts_serialization_of_every_value() -> None:
    from feast.value_type import ValueType
    from google.protobuf.timestamp_pb2 import Timestamp

    features = [
        rw.FeatureField("vec", 3, ValueType.FLOAT_LIST, b"f-vec"),
        rw.FeatureField("f32", None, ValueType.FLOAT, b"f-f32"),
        rw.FeatureField("f64", None, ValueType.DOUBLE, b"f-f64"),
        rw.FeatureField("f64nan", None, ValueType.DOUBLE, b"f-f64nan"),
        rw.FeatureField("count", None, ValueType.INT64, b"f-count"),
        rw.FeatureField("maybe", None, ValueType.FLOAT, b"f-maybe"),
        rw.FeatureField("label", None, ValueType.STRING, b"f-label"),
    ]
    vectors = [[0.5, -1.25, 3.0], [0.0, 0.0, 0.0], [1e-30, 7.0, -0.0]]
    batch = pa.record_batch(
        {
            "vec": pa.array(vectors, pa.list_(pa.float32())),
            "f32": pa.array([0.0, 1.5, -2.0], pa.float32()),
            "f64": pa.array([0.1, 0.0, -1e300], pa.float64()),
            "f64nan": pa.array([0.1, float("nan"), 2.0], pa.float64()),
            "count": pa.array([0, -5, 2**40], pa.int64()),
            "maybe": pa.array([None, 2.5, None], pa.float32()),
            "label": pa.array(["x", "", "ünï"], pa.string()),
        }
    )
    micros = np.array([rw.to_micros(T0), rw.to_micros(T0) + 123_456, 0], dtype=np.int64)
    keys = [b"key-0", b"key-one", b"k2"]
    feast_values = {f.field_key: _feast_bytes(batch.column(f.name), f.value_type) for f in features}
    encoded = rw.encode_batch(batch, features, keys, micros, b"_ts:view")
    assert len(encoded) == 3

    # every row, or a subset (rows the newer-than-stored check kept); keys of different
    # lengths go to different blocks, so the commands are matched by key
    for rows in (None, [0, 1, 2], [2, 0], [1]):
        commands = _parse_commands(b"".join(encoded.commands(rows)))
        assert all(c[0] == b"HSET" for c in commands)
        by_key = {c[1]: c for c in commands}
        wanted = [0, 1, 2] if rows is None else rows
        assert len(commands) == len(wanted) and set(by_key) == {keys[i] for i in wanted}
        for i in wanted:
            command = by_key[keys[i]]
            mapping = dict(zip(command[2::2], command[3::2], strict=True))
            stamp = Timestamp()
            stamp.FromDatetime(datetime.fromtimestamp(int(micros[i]) / 1e6, UTC))
            expected = {b"_ts:view": stamp.SerializeToString()}
            for field_key, values in feast_values.items():
                expected[field_key] = values[i]
            assert mapping == expected, f"row {i}"


def test_timestamp_values_match_protobuf_from_datetime() -> None:
    from google.protobuf.timestamp_pb2 import Timestamp

    moments = [
        T0,
        T0 + timedelta(microseconds=1),
        datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),
        T0,
    ]
    got = rw.timestamp_values(np.array([rw.to_micros(m) for m in moments], dtype=np.int64))
    for moment, raw in zip(moments, got, strict=True):
        stamp = Timestamp()
        stamp.FromDatetime(moment)
        assert raw == stamp.SerializeToString()


# --- against the real Redis -----------------------------------------------------------------


@pytest.fixture()
def redis_client(redis_url: str) -> Iterator[Any]:
    import redis

    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def _hashes(client: Any, project: str) -> dict[bytes, dict[bytes, bytes]]:
    suffix = project.encode()
    return {k[: -len(suffix)]: client.hgetall(k) for k in client.scan_iter(match=b"*" + suffix)}


def _drop(client: Any, project: str) -> None:
    keys = list(client.scan_iter(match=b"*" + project.encode()))
    if keys:
        client.delete(*keys)


@pytest.mark.integration
def test_small_batches_row_groups_and_nulls_write_exactly_what_feast_writes(
    workdir: Workdir,
    test_specs: list[ExtractorSpec],
    redis_url: str,
    redis_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    corpus = write_corpus(workdir, test_specs, n=7)
    acoustic = next(s for s in test_specs if s.name == "acoustic")
    # many row groups, null scalars and a zero scalar, ids spread over two files
    extra = feature_rows(acoustic, ["x1", "x2", "x3", "x4", "x5"], seed=5)
    ratio = extra.column("speech_ratio").to_pylist()
    ratio[0], ratio[1], ratio[2] = None, None, 0.0  # group 0: all null
    extra = extra.set_column(
        extra.schema.get_field_index("speech_ratio"),
        extra.schema.field("speech_ratio"),
        pa.array(ratio, pa.float32()),
    )
    pitch = extra.column("pitch_hz").to_pylist()
    pitch[3] = float("nan")  # Feast stores a NaN scalar as null
    extra = extra.set_column(
        extra.schema.get_field_index("pitch_hz"),
        extra.schema.field("pitch_hz"),
        pa.array(pitch, pa.float64()),
    )
    path = workdir.feature_dir("acoustic") / "part-extra.parquet"
    pq.write_table(extra, path, row_group_size=2)
    # a re-extraction (later event time) and a row after the materialization end
    write_features(
        workdir,
        feature_rows(acoustic, [corpus.ids[2]], event=T0 + timedelta(days=1), seed=8),
        "acoustic",
        "reextract",
    )
    write_features(
        workdir,
        feature_rows(acoustic, ["future"], event=datetime.now(UTC) + timedelta(days=5), seed=9),
        "acoustic",
        "future",
    )
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("NORDLID_FEAST_WRITE_BATCH", "2")
    dumps: dict[str, dict[bytes, dict[bytes, bytes]]] = {}
    projects: list[str] = []
    # Feast's stock Redis store and engine; the plugin store under Feast's engine (packed
    # HSET of Feast's protobuf rows); the plugin engine (the direct writer)
    paths = {
        "stock": ("feast", "redis", "feast"),
        "packed": ("feast", config.ONLINE_STORE_TYPE, "packed"),
        "direct": ("direct", config.ONLINE_STORE_TYPE, "direct"),
    }
    try:
        for name, (engine, online_type, counter) in paths.items():
            project = f"nordlid_t{uuid.uuid4().hex[:10]}"
            projects.append(project)
            monkeypatch.setenv("NORDLID_FEAST_PROJECT", project)
            monkeypatch.setenv("NORDLID_FEAST_MATERIALIZE", engine)
            monkeypatch.setattr(config, "ONLINE_STORE_TYPE", online_type)
            store.apply(workdir)
            before = dict(redis_plugin.WRITES)
            store.materialize(workdir)
            dumps[name] = _hashes(redis_client, project)
            if name != "stock":  # the rows went through the plugin's own code path
                assert redis_plugin.WRITES[counter] > before.get(counter, 0)
                assert redis_plugin.WRITES["feast"] == before.get("feast", 0)
        assert len(dumps["stock"]) == 7 + 5
        assert not any(b"future" in k for k in dumps["stock"])
        assert dumps["packed"] == dumps["stock"]
        assert dumps["direct"] == dumps["stock"]
    finally:
        for project in projects:
            _drop(redis_client, project)
        store.close(workdir)


def _lidnet_view(workdir: Workdir) -> Any:
    store.apply(workdir)
    return store.get_store(workdir).get_feature_view("lidnet")


@pytest.mark.integration
@pytest.mark.parametrize("overlap", [True, False])
def test_a_stored_row_at_the_same_time_or_newer_is_kept_unless_dedup_is_off(
    workdir: Workdir,
    test_specs: list[ExtractorSpec],
    redis_url: str,
    redis_client: Any,
    monkeypatch: pytest.MonkeyPatch,
    overlap: bool,
) -> None:
    monkeypatch.setenv("NORDLID_FEAST_PROJECT", f"nordlid_t{uuid.uuid4().hex[:10]}")
    monkeypatch.delenv("REDIS_URL", raising=False)
    lidnet = next(s for s in test_specs if s.name == "lidnet")
    newer = write_features(
        workdir,
        feature_rows(lidnet, ["a", "b"], event=T0 + timedelta(days=2), seed=1),
        "lidnet",
        "newer",
    )
    view = _lidnet_view(workdir)
    project = f"nordlid_t{uuid.uuid4().hex[:10]}"
    older = workdir.root / "older.parquet"
    pq.write_table(feature_rows(lidnet, ["a", "c", "d"], event=T0, seed=2), older)
    same = workdir.root / "same.parquet"
    pq.write_table(feature_rows(lidnet, ["b"], event=T0 + timedelta(days=2), seed=3), same)
    window = (T0 - timedelta(days=1), T0 + timedelta(days=3))

    def write(path: Path, dedup: bool = True) -> int:
        return rw.write_view(
            redis_client, project, view, [path], *window, batch_rows=2, dedup=dedup, overlap=overlap
        )

    try:
        assert write(newer) == 2
        stored = _hashes(redis_client, project)
        assert write(older) == 2  # "a" has a newer stored row: only "c" and "d"
        assert write(same) == 0  # same instant as stored: skipped, as Feast does
        after = _hashes(redis_client, project)
        for key in stored:
            assert after[key] == stored[key]
        assert len(after) == 4
        assert write(older, dedup=False) == 3
        key_a = EntityKeyEncoder(project).key("a")[: -len(project)]
        assert _hashes(redis_client, project)[key_a] != stored[key_a]
    finally:
        _drop(redis_client, project)
        store.close(workdir)


@pytest.mark.integration
def test_a_refused_write_names_the_view_and_leaves_the_client_usable(
    workdir: Workdir,
    test_specs: list[ExtractorSpec],
    redis_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NORDLID_FEAST_PROJECT", f"nordlid_t{uuid.uuid4().hex[:10]}")
    monkeypatch.delenv("REDIS_URL", raising=False)
    lidnet = next(s for s in test_specs if s.name == "lidnet")
    path = write_features(workdir, feature_rows(lidnet, [f"u{i}" for i in range(5)]), "lidnet")
    view = _lidnet_view(workdir)
    project = f"nordlid_t{uuid.uuid4().hex[:10]}"
    redis_client.set(EntityKeyEncoder(project).key("u3"), b"not a hash")
    try:
        for dedup in (True, False):
            with pytest.raises(rw.RedisWriteError, match="view 'lidnet'.*WRONGTYPE"):
                rw.write_view(
                    redis_client, project, view, [path], T0, T0, batch_rows=2, dedup=dedup
                )
            assert redis_client.ping()
    finally:
        _drop(redis_client, project)
        store.close(workdir)
