"""The direct Redis read path: one utterance (the serving case, decoded on its own path) gives
exactly what the batch path gives, for present, partly present and unknown utterances."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from extractors.spec import ExtractorSpec
from feature_repo import recipes, store
from nordlid.workdir import Workdir

from .conftest import feature_rows, write_corpus, write_features


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and np.array_equal(a, b)
        )
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a):
        return bool(np.isnan(b))
    return type(a) is type(b) and bool(a == b)


@pytest.mark.integration
def test_one_utterance_reads_exactly_what_a_batch_reads(
    redis_store: tuple[Workdir, str],
    test_specs: list[ExtractorSpec],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    workdir, _ = redis_store
    # a recipe service over two views, so an utterance can be partly present
    monkeypatch.setitem(recipes.RECIPES, "lid_pair", ("acoustic", "lidnet"))
    corpus = write_corpus(workdir, test_specs, n=4)
    acoustic = next(s for s in test_specs if s.name == "acoustic")
    # a null float scalar and a NaN one (Feast stores both as an empty feast.Value)
    odd = feature_rows(acoustic, ["odd-1"], seed=7)
    index = odd.schema.get_field_index("speech_ratio")
    odd = odd.set_column(index, odd.schema.field("speech_ratio"), pa.array([None], pa.float32()))
    index = odd.schema.get_field_index("pitch_hz")
    odd = odd.set_column(index, odd.schema.field("pitch_hz"), pa.array([np.nan], pa.float64()))
    write_features(workdir, odd, "acoustic", "odd")
    store.apply(workdir)
    store.materialize(workdir)

    ids = [corpus.ids[1], "odd-1", "no-such-utterance"]
    batch = store.online_features(workdir, "lid_pair", ids)
    assert batch["found"].tolist() == [True, False, False]
    assert batch["missing_views"].tolist() == [[], ["lidnet"], ["acoustic", "lidnet"]]
    for i, uid in enumerate(ids):
        one = store.online_features(workdir, "lid_pair", [uid])
        assert list(one.columns) == list(batch.columns)
        assert one["found"].dtype == bool and len(one) == 1
        for col in batch.columns:
            assert _same(one[col].iloc[0], batch[col].iloc[i]) or (
                col == "missing_views" and one[col].iloc[0] == batch[col].iloc[i]
            ), f"{uid} {col}: {one[col].iloc[0]!r} != {batch[col].iloc[i]!r}"
    odd_row = store.online_features(workdir, "lid_pair", ["odd-1"]).iloc[0]
    assert odd_row["acoustic__speech_ratio"] is None
    assert odd_row["acoustic__pitch_hz"] is None
    assert odd_row["lidnet__embedding"] is None
    assert isinstance(odd_row["acoustic__mfcc_mean"], np.ndarray)
    reader = store._reader(store._handle(workdir), "lid_pair")
    names, columns, found, missing = reader.read_columns([corpus.ids[1]])
    assert found == [True] and missing == [[]] and len(names) == len(columns)
    want = corpus.tables["acoustic"].column("speech_ratio")[1].as_py()
    assert columns[names.index("acoustic__speech_ratio")] == [want]


@pytest.mark.integration
def test_one_utterance_read_survives_a_dropped_connection(
    redis_store: tuple[Workdir, str], test_specs: list[ExtractorSpec], redis_url: str
) -> None:
    import redis

    workdir, _ = redis_store
    corpus = write_corpus(workdir, test_specs, n=2)
    store.apply(workdir)
    store.materialize(workdir)
    before = store.online_features(workdir, "lid_lidnet", [corpus.ids[0]])
    client = store._redis_client(store._handle(workdir))
    # the server drops the pooled connection (as on a Redis restart); only ours is killed
    connection_id = client.client_id()
    killer = redis.Redis.from_url(redis_url)
    try:
        assert killer.client_kill_filter(_id=connection_id) == 1
    finally:
        killer.close()
    after = store.online_features(workdir, "lid_lidnet", [corpus.ids[0]])
    assert after["found"].tolist() == [True]
    assert np.array_equal(after["lidnet__embedding"][0], before["lidnet__embedding"][0])
    assert client.client_id() != connection_id
