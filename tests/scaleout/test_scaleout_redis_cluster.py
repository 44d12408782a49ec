"""Feast's ``redis_type: redis_cluster`` online store on a local three-master Redis Cluster."""

from __future__ import annotations

import numpy as np

from feature_repo import store
from feature_repo.definitions import JOIN_KEY
from feature_repo.online import RedisOnlineReader, ViewFields
from feature_repo.scale_out import (
    ScaleOutSettings,
    cluster_client,
    materialize_scaled,
    online_features_scaled,
    scale_out_store,
)

from .conftest import write_small_repo


def _keys_per_master(client) -> dict[str, int]:
    return {n.name: int(client.get_redis_connection(n).dbsize()) for n in client.get_primaries()}


def test_materialize_and_read_through_redis_cluster(
    redis_cluster: list[str], feast_project
) -> None:
    workdir, project = feast_project
    from extractors.registry import all_specs

    tables = write_small_repo(workdir, all_specs(), n=40)
    store.apply(workdir)
    scale = ScaleOutSettings(
        batch_engine="local", offline_store="file", redis_cluster_nodes=tuple(redis_cluster)
    )
    result = materialize_scaled(workdir, scale)
    assert set(result.materialized) == {"acoustic", "lidnet", "utterance_labels"}

    # the keys are spread over the masters (Feast wrote through the cluster client)
    client = cluster_client(scale)
    try:
        per_node = _keys_per_master(client)
        assert len(per_node) == 3 and all(n > 0 for n in per_node.values())
        assert sum(per_node.values()) == 40

        ids = tables["lidnet"].column("utterance_id").to_pylist()
        online = online_features_scaled(workdir, "lid_premium", [*ids, "no-such-id"], scale)
        assert online["found"].tolist() == [True] * 40 + [False]
        want = tables["lidnet"].column("embedding").to_pylist()
        for got, exp in zip(online["lidnet__embedding"][:40], want, strict=True):
            np.testing.assert_array_equal(got, np.asarray(exp, np.float32))
        assert online["lidnet__embedding"].iloc[40] is None

        # the direct read path of serving works on a cluster client too
        fs = scale_out_store(workdir, scale)
        reader = RedisOnlineReader(
            client,
            project,
            [ViewFields(view="lidnet", features=(("embedding", 16),))],
            join_key=JOIN_KEY,
            entity_key_serialization_version=fs.config.entity_key_serialization_version,
        )
        direct = reader.read(ids)
        assert direct["found"] == [True] * 40
        for got, exp in zip(direct["lidnet__embedding"], want, strict=True):
            np.testing.assert_array_equal(got, np.asarray(exp, np.float32))

        # Feast's teardown removes the project's keys from every master
        scale_out_store(workdir, scale).teardown()
        assert sum(_keys_per_master(client).values()) == 0
    finally:
        client.close()
