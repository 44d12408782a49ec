"""Direct read path for the Redis online store (the serving hot path).

Feast's Redis store keeps one hash per entity key (``serialize_entity_key(key) + project``)
with one field per feature (``mmh3("<view>:<feature>")``, a serialized ``feast.Value``) and
one ``_ts:<view>`` field per view.  ``get_online_features`` reads it with one round trip per
view and builds protobuf responses; this reader asks for every field of a service in one
pipelined ``HMGET`` per utterance and decodes float vectors straight from the packed bytes.
It reads exactly what Feast wrote, so the values are identical (the tests compare them).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from feature_repo.feast_compat import (
    DOUBLE_TAG,
    FLOAT_LIST_TAG,
    FLOAT_TAG,
    PACKED_TAG,
    field_key,
    vector_header,
)

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

_FLOAT_LIST_TAG = FLOAT_LIST_TAG
_PACKED_TAG = PACKED_TAG


@dataclass(frozen=True)
class ViewFields:
    """The features read from one view: (name, vector length or None)."""

    view: str
    features: tuple[tuple[str, int | None], ...]


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def decode_value(raw: bytes, is_vector: bool) -> Any:
    """A serialized ``feast.Value`` → numpy float32 vector or a Python scalar (None if unset)."""
    if is_vector and raw[:2] == _FLOAT_LIST_TAG:
        outer, pos = _varint(raw, 2)
        if pos + outer == len(raw):
            if outer == 0:
                return np.zeros(0, dtype=np.float32)
            if raw[pos] == _PACKED_TAG:
                inner, pos = _varint(raw, pos + 1)
                if pos + inner == len(raw) and inner % 4 == 0:
                    return np.frombuffer(raw, dtype="<f4", count=inner // 4, offset=pos)
    from feast.protos.feast.types.Value_pb2 import Value as ValueProto

    value = ValueProto.FromString(raw)
    kind = value.WhichOneof("val")
    if kind is None or kind == "null_val":
        return None
    payload = getattr(value, kind)
    if kind.endswith("_list_val"):
        return np.asarray(payload.val, dtype=np.float32 if is_vector else None)
    return payload


class EntityKeyEncoder:
    """Feast's Redis key of an utterance: ``serialize_entity_key(key) + project``.

    For one string join key that is ``prefix + len(value) (u32 LE) + value + project``; the
    prefix is learnt from Feast itself and kept only if it reproduces Feast's keys exactly
    (otherwise every key goes through Feast).
    """

    def __init__(self, project: str, join_key: str = "utterance_id", version: int = 3) -> None:
        self._project = project.encode("utf-8")
        self._join_key = join_key
        self._version = version
        self._prefix = self._derive_prefix()

    def feast_key(self, utterance_id: str) -> bytes:
        from feast.infra.key_encoding_utils import serialize_entity_key
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
        from feast.protos.feast.types.Value_pb2 import Value as ValueProto

        key = EntityKeyProto(
            join_keys=[self._join_key], entity_values=[ValueProto(string_val=utterance_id)]
        )
        return (
            serialize_entity_key(key, entity_key_serialization_version=self._version)
            + self._project
        )

    def _derive_prefix(self) -> bytes | None:
        probes = ("x", "utt-0001", "ünïcødé-id")
        sample = self.feast_key(probes[0])
        encoded = probes[0].encode()
        tail = struct.pack("<I", len(encoded)) + encoded + self._project
        if not sample.endswith(tail):
            return None
        prefix = sample[: -len(tail)]
        for probe in probes[1:]:
            raw = probe.encode()
            if prefix + struct.pack("<I", len(raw)) + raw + self._project != self.feast_key(probe):
                return None
        return prefix

    def key(self, utterance_id: str) -> bytes:
        if self._prefix is None:
            return self.feast_key(utterance_id)
        raw = utterance_id.encode()
        return self._prefix + struct.pack("<I", len(raw)) + raw + self._project


class RedisOnlineReader:
    """Reads whole feature services for a batch of utterance ids from Feast's Redis layout."""

    def __init__(
        self,
        client: Any,
        project: str,
        views: Sequence[ViewFields],
        join_key: str = "utterance_id",
        entity_key_serialization_version: int = 3,
    ) -> None:
        self._client = client
        self.views = tuple(views)
        fields: list[bytes] = []
        self.columns: list[tuple[str, bool]] = []
        self._ts_positions: list[int] = []
        self._view_slices: list[tuple[int, int]] = []
        for vf in self.views:
            start = len(fields)
            for name, length in vf.features:
                fields.append(field_key(vf.view, name))
                self.columns.append((f"{vf.view}__{name}", length is not None))
            self._view_slices.append((start, len(fields)))
            self._ts_positions.append(len(fields))
            fields.append(f"_ts:{vf.view}".encode())
        self.fields = fields
        # the packed field arguments of HMGET, for one utterance on a plain redis.Redis client
        self._hmget_tail: bytes | None = None
        if _is_plain_redis(client):
            self._hmget_tail = b"".join(b"$%d\r\n%s\r\n" % (len(f), f) for f in fields)
        # per column: (header, header length, total bytes, vector length) for the fast path
        self._vector_layout: list[tuple[bytes, int, int, int] | None] = []
        for vf in self.views:
            for _, length in vf.features:
                if length:
                    header = vector_header(length)
                    self._vector_layout.append(
                        (header, len(header), len(header) + 4 * length, length)
                    )
                else:
                    self._vector_layout.append(None)
        self._keys = EntityKeyEncoder(project, join_key, entity_key_serialization_version)
        self._frame_columns: pd.Index | None = None
        # one utterance (the serving case): per column, where its value is and how to decode
        # it (vector header, its length, total bytes, float count; empty header: not a vector)
        self._row_plan: list[tuple[int, int, bytes, int, int, int, bool]] = []
        col = 0
        for v, (start, end) in enumerate(self._view_slices):
            for pos in range(start, end):
                layout = self._vector_layout[col] or (b"", 0, -1, 0)
                self._row_plan.append((pos, v, *layout, self.columns[col][1]))
                col += 1

    def redis_key(self, utterance_id: str) -> bytes:
        return self._keys.key(utterance_id)

    def fetch(self, utterance_ids: Sequence[str]) -> list[list[bytes | None]]:
        """Raw field values, one list per id (one pipelined round trip)."""
        return self.fetch_keys([self.redis_key(uid) for uid in utterance_ids])

    def fetch_keys(self, keys: Sequence[bytes]) -> list[list[bytes | None]]:
        """Raw field values of Redis keys (Feast's entity keys), one list per key."""
        if len(keys) == 1 and self._hmget_tail is not None:
            return [self._fetch_one(keys[0], self._hmget_tail)]
        pipe = self._client.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(key, self.fields)
        result: list[list[bytes | None]] = pipe.execute()
        return result

    def read(self, utterance_ids: Sequence[str]) -> dict[str, list[Any]]:
        """Column name → values; ``found`` is True when every view has a value for the id.

        A view with no row for an id yields None for its features (never a default value),
        and ``missing_views`` lists those views.
        """
        names, columns, found, missing = self.read_columns(utterance_ids)
        out: dict[str, list[Any]] = {"utterance_id": list(utterance_ids)}
        for name, values in zip(names, columns, strict=True):
            out[name] = values
        out["found"] = found
        out["missing_views"] = missing
        return out

    def read_frame(self, utterance_ids: Sequence[str]) -> pd.DataFrame:
        """:meth:`read` as a DataFrame (columns: utterance_id, features, missing_views, found)."""
        if len(utterance_ids) == 1:
            return self._read_one_frame(utterance_ids[0])
        names, columns, found, missing = self.read_columns(utterance_ids)
        n = len(utterance_ids)
        block = np.empty((len(names) + 2, n), dtype=object)
        for i, uid in enumerate(utterance_ids):
            block[0, i] = uid
            block[-1, i] = missing[i]
        for j, values in enumerate(columns, start=1):
            row = block[j]
            for i, value in enumerate(values):
                row[i] = value
        if self._frame_columns is None:
            import pandas as pd

            self._frame_columns = pd.Index(["utterance_id", *names, "missing_views", "found"])
        return _frame(block, np.asarray(found, dtype=bool), self._frame_columns)

    def _fetch_one(self, key: bytes, tail: bytes) -> list[bytes | None]:
        """``HMGET key <every field>`` with the fields packed once (a plain ``redis.Redis``):
        no pipeline object and no per-call packing of ~70 arguments.  Retried on a dropped
        connection as redis-py retries its own commands."""
        command = b"*%d\r\n$5\r\nHMGET\r\n$%d\r\n%s\r\n%s" % (
            len(self.fields) + 2,
            len(key),
            key,
            tail,
        )
        return send_packed(self._client, [command])[0]

    def _decode_row(self, raw: list[bytes | None]) -> tuple[list[Any], list[str]]:
        """(decoded value per column, missing views) of one utterance's fields."""
        present = [raw[ts_pos] is not None for ts_pos in self._ts_positions]
        values: list[Any] = []
        append = values.append
        frombuffer = np.frombuffer
        for pos, view, header, offset, total, count, is_vector in self._row_plan:
            value = raw[pos]
            if value is None or not present[view]:
                append(None)
            elif len(value) == total and value.startswith(header):
                append(frombuffer(value, _F4, count, offset))  # positional: cheaper
            elif len(value) == 5 and value[:1] == FLOAT_TAG and not is_vector:
                append(_FLOAT32.unpack_from(value, 1)[0])  # float_val
            else:
                layout = (header, offset, total, count) if total >= 0 else None
                append(_decode_single(value, layout, is_vector))
        missing = [vf.view for vf, flag in zip(self.views, present, strict=True) if not flag]
        return values, missing

    def _read_one_frame(self, utterance_id: str) -> pd.DataFrame:
        values, missing = self._decode_row(self.fetch([utterance_id])[0])
        block = np.empty((len(values) + 2, 1), dtype=object)
        block[0, 0] = utterance_id
        for i, value in enumerate(values, start=1):
            block[i, 0] = value
        block[-1, 0] = missing
        if self._frame_columns is None:
            import pandas as pd

            self._frame_columns = pd.Index(
                ["utterance_id", *(c for c, _ in self.columns), "missing_views", "found"]
            )
        return _frame(block, np.array([not missing]), self._frame_columns)

    def read_columns(
        self, utterance_ids: Sequence[str]
    ) -> tuple[list[str], list[list[Any]], list[bool], list[list[str]]]:
        """(column names, decoded values per column, found, missing views per id)."""
        if len(utterance_ids) == 1:
            values, missing_one = self._decode_row(self.fetch(utterance_ids)[0])
            return (
                [c for c, _ in self.columns],
                [[v] for v in values],
                [not missing_one],
                [missing_one],
            )
        raw_rows = self.fetch(utterance_ids)
        n = len(raw_rows)
        present = [[raw[ts_pos] is not None for raw in raw_rows] for ts_pos in self._ts_positions]
        missing: list[list[str]] = [
            [vf.view for vf, flags in zip(self.views, present, strict=True) if not flags[i]]
            for i in range(n)
        ]
        columns: list[list[Any]] = []
        col = 0
        for v, (start, end) in enumerate(self._view_slices):
            flags = present[v]
            for pos in range(start, end):
                values = [raw[pos] if flags[i] else None for i, raw in enumerate(raw_rows)]
                columns.append(self._decode_column(values, col))
                col += 1
        return [c for c, _ in self.columns], columns, [not m for m in missing], missing

    def _decode_one(self, value: bytes | None, col: int) -> Any:
        if value is None:
            return None
        return _decode_single(value, self._vector_layout[col], self.columns[col][1])

    def _decode_column(self, values: list[bytes | None], col: int) -> list[Any]:
        layout = self._vector_layout[col]
        if len(values) == 1:
            return [self._decode_one(values[0], col)]
        if layout is not None and values:
            header, offset, total, length = layout
            if all(v is not None and len(v) == total and v.startswith(header) for v in values):
                # every row has the canonical packed layout: decode the column at once
                joined = np.frombuffer(b"".join(values), dtype=np.uint8)  # type: ignore[arg-type]
                floats = np.ascontiguousarray(joined.reshape(len(values), total)[:, offset:])
                return list(floats.view("<f4").reshape(len(values), length))
        is_vector = self.columns[col][1]
        if not is_vector and values and values[0] is not None:
            scalar = _SCALAR_LAYOUTS.get(values[0][:1])
            if scalar is not None:
                tag, size, dtype = scalar
                if all(v is not None and len(v) == size and v[:1] == tag for v in values):
                    joined = np.frombuffer(b"".join(values), dtype=np.uint8)  # type: ignore[arg-type]
                    raw = np.ascontiguousarray(joined.reshape(len(values), size)[:, 1:])
                    decoded: list[Any] = raw.view(dtype).reshape(len(values)).tolist()
                    return decoded
        return [decode_value(v, is_vector) if v is not None else None for v in values]


def send_packed(client: Any, commands: Sequence[bytes]) -> list[Any]:
    """Send packed RESP commands on one connection of a ``redis.Redis`` and read one reply
    each: no pipeline object, no per-call packing.  Retried on a dropped connection as
    redis-py retries its own commands; any other failure drops the connection (its unread
    replies with it)."""
    pool = client.connection_pool
    conn = pool.get_connection()

    def once() -> list[Any]:
        conn.send_packed_command(commands)
        return [conn.read_response() for _ in commands]

    try:
        result: list[Any] = conn.retry.call_with_retry(once, lambda _error: conn.disconnect())
        return result
    except BaseException:
        conn.disconnect()
        raise
    finally:
        pool.release(conn)


def packed_hmget(
    client: Any,
    commands: Sequence[tuple[bytes, Sequence[bytes | str]]],
    tails: dict[tuple[bytes | str, ...], tuple[int, bytes]],
) -> list[list[bytes | None]]:
    """``HMGET key fields...`` of every (key, fields), sent at once by :func:`send_packed`;
    the packed fields of each field list are kept in ``tails``."""
    packed = []
    for key, fields in commands:
        names = tuple(fields)
        tail = tails.get(names)
        if tail is None:
            if len(tails) > 1024:
                tails.clear()
            raw = [f.encode() if isinstance(f, str) else f for f in names]
            tail = tails[names] = (len(raw), b"".join(b"$%d\r\n%s\r\n" % (len(f), f) for f in raw))
        packed.append(
            b"*%d\r\n$5\r\nHMGET\r\n$%d\r\n%s\r\n%s" % (tail[0] + 2, len(key), key, tail[1])
        )
    return send_packed(client, packed) if packed else []


def _is_plain_redis(client: Any) -> bool:
    """A ``redis.Redis`` (one server, a connection pool), not a cluster client."""
    try:
        import redis
    except ImportError:
        return False
    return isinstance(client, redis.Redis)


def _decode_single(
    value: bytes, layout: tuple[bytes, int, int, int] | None, is_vector: bool
) -> Any:
    if layout is not None and len(value) == layout[2] and value.startswith(layout[0]):
        return np.frombuffer(value, dtype="<f4", count=layout[3], offset=layout[1])
    if not is_vector:
        scalar = _SCALAR_LAYOUTS.get(value[:1])
        if scalar is not None and len(value) == scalar[1]:
            return float(np.frombuffer(value, dtype=scalar[2], count=1, offset=1)[0])
    return decode_value(value, is_vector)


_FLOAT32 = struct.Struct("<f")
_F4 = np.dtype("<f4")
# feast.Value float_val (field 6, fixed32) and double_val (field 5, fixed64): tag byte, size
_SCALAR_LAYOUTS: dict[bytes, tuple[bytes, int, str]] = {
    FLOAT_TAG: (FLOAT_TAG, 5, "<f4"),
    DOUBLE_TAG: (DOUBLE_TAG, 9, "<f8"),
}


def _frame(block: np.ndarray, found: np.ndarray, columns: pd.Index) -> pd.DataFrame:
    """DataFrame of an object block (columns × rows) plus the boolean ``found`` column.

    Built from two blocks directly (the pandas API pyarrow uses): constructing a frame of
    ~60 object columns the ordinary way costs more than the Redis round trip of a lookup.
    """
    import pandas as pd

    n = block.shape[1]
    rows = block.shape[0]
    try:
        from pandas._libs.internals import BlockPlacement
        from pandas.core.internals import BlockManager
        from pandas.core.internals.blocks import new_block

        manager = BlockManager(
            (
                new_block(block, BlockPlacement(slice(0, rows)), ndim=2),
                new_block(found.reshape(1, n), BlockPlacement(slice(rows, rows + 1)), ndim=2),
            ),
            [columns, pd.RangeIndex(n)],
            verify_integrity=False,
        )
        return pd.DataFrame._from_mgr(manager, axes=manager.axes)
    except (ImportError, AttributeError, TypeError, ValueError, AssertionError):
        pass
    try:
        from pandas.core.internals import BlockManager
        from pandas.core.internals.api import make_block

        blocks = (
            make_block(block, placement=slice(0, block.shape[0])),
            make_block(found.reshape(1, n), placement=slice(block.shape[0], block.shape[0] + 1)),
        )
        manager = BlockManager(blocks, [columns, pd.RangeIndex(n)])
        return pd.DataFrame._from_mgr(manager, axes=manager.axes)
    except (ImportError, AttributeError, TypeError, ValueError, AssertionError):
        frame = pd.DataFrame(block.T, columns=columns[:-1], copy=False)
        frame["found"] = found
        return frame
