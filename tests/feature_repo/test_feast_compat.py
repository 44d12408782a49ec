"""What nordlid relies on that Feast does not promise (feature_repo/feast_compat.py).

Every test here fails loudly after a Feast upgrade that changes one of them: re-check the
adapter (and the byte tests of test_redis_writer.py) before widening SUPPORTED_FEAST.
"""

from __future__ import annotations

import importlib
import inspect
from datetime import UTC, datetime
from pathlib import Path

import mmh3
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from feature_repo import config, feast_compat, redis_plugin


def test_feast_is_in_the_checked_version_range() -> None:
    low, high = feast_compat.SUPPORTED_FEAST
    assert low <= feast_compat.feast_version() < high, (
        "Feast was upgraded: re-check feature_repo/feast_compat.py and the Redis plugin, "
        "then widen SUPPORTED_FEAST"
    )
    assert feast_compat.feast_supported()


def test_the_private_hash_helper_exists_and_is_murmur3_little_endian() -> None:
    helpers = importlib.import_module("feast.infra.online_stores.helpers")
    assert callable(getattr(helpers, "_mmh3", None)), "feast dropped helpers._mmh3"
    for name in ("lidnet:embedding", "acoustic:mfcc_mean", "ünïcødé:x"):
        expected = mmh3.hash(name, signed=False).to_bytes(4, "little")
        view, feature = name.split(":")
        assert feast_compat.field_key(view, feature) == expected


@pytest.mark.parametrize("length", [1, 6, 31, 32, 256, 1024, 1280])
def test_vector_header_is_the_serialized_float_list_prefix(length: int) -> None:
    from feast.protos.feast.types.Value_pb2 import FloatList
    from feast.protos.feast.types.Value_pb2 import Value as ValueProto

    values = np.arange(length, dtype="<f4") / 7
    serialized = ValueProto(float_list_val=FloatList(val=values.tolist())).SerializeToString()
    assert serialized == feast_compat.vector_header(length) + values.tobytes()


def test_scalar_tags_are_the_serialized_float_and_double_fields() -> None:
    from feast.protos.feast.types.Value_pb2 import Value as ValueProto

    assert (
        ValueProto(float_val=1.5).SerializeToString()
        == feast_compat.FLOAT_TAG + np.float32(1.5).tobytes()
    )
    assert (
        ValueProto(double_val=2.25).SerializeToString()
        == feast_compat.DOUBLE_TAG + np.float64(2.25).tobytes()
    )


def test_the_plugins_resolve_through_feasts_dotted_type_convention() -> None:
    from feast.repo_config import get_batch_engine_config_from_type, get_online_config_from_type

    online = get_online_config_from_type(config.ONLINE_STORE_TYPE)
    assert online is redis_plugin.NordlidRedisOnlineStoreConfig
    assert get_batch_engine_config_from_type(config.ENGINE_TYPE) is (
        redis_plugin.NordlidComputeEngineConfig
    )
    with pytest.raises(ValueError, match="extra"):
        online.model_validate({"connection_string": "localhost:6379", "nope": 1})


def test_the_feast_methods_the_plugins_override_still_exist() -> None:
    from feast.infra.compute_engines.local.compute import LocalComputeEngine
    from feast.infra.online_stores.redis import RedisOnlineStore

    for name in ("_get_client", "online_write_batch", "online_read", "_read_hash_fields"):
        assert callable(getattr(RedisOnlineStore, name, None)), name
    assert callable(getattr(LocalComputeEngine, "materialize", None))
    hook = inspect.signature(RedisOnlineStore._read_hash_fields)
    assert list(hook.parameters) == ["self", "config", "commands"]
    # every online read of Feast's Redis store goes through the hook
    for reader in (RedisOnlineStore.online_read, RedisOnlineStore._read_features_per_fv):
        assert "self._read_hash_fields(" in inspect.getsource(reader), reader.__name__


def test_created_time_ties_pick_the_latest_created_row(tmp_path: Path) -> None:
    t0 = datetime(2025, 3, 1, tzinfo=UTC)
    path = tmp_path / "part.parquet"
    pq.write_table(
        pa.table(
            {
                "utterance_id": ["a", "a", "b"],
                "event_timestamp": pa.array([t0, t0, t0], pa.timestamp("us", tz="UTC")),
                "created_timestamp": pa.array(
                    [t0.replace(hour=2), t0.replace(hour=1), t0], pa.timestamp("us", tz="UTC")
                ),
                "x": [2.0, 1.0, 3.0],
            }
        ),
        path,
    )
    result = pd.DataFrame(
        {
            "utterance_id": ["a", "b"],
            "event_timestamp": pd.to_datetime([t0, t0], utc=True),
            "v__x": [1.0, 3.0],  # the join picked the older created row for "a"
        }
    )
    feast_compat.fix_created_ties(result, [path], "created_timestamp", ["v__x"])
    assert result["v__x"].tolist() == [2.0, 3.0]
