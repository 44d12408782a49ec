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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

# feast.Value: float_list_val is field 16 (length-delimited → tag bytes 0x82 0x01);
# FloatList.val is field 1, packed (tag 0x0a).
_FLOAT_LIST_TAG = b"\x82\x01"
_PACKED_TAG = 0x0A


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
        from feast.infra.online_stores.helpers import _mmh3

        self._client = client
        self._project = project.encode("utf-8")
        self._join_key = join_key
        self._version = entity_key_serialization_version
        self.views = tuple(views)
        fields: list[bytes] = []
        self.columns: list[tuple[str, bool]] = []
        self._ts_positions: list[int] = []
        self._view_slices: list[tuple[int, int]] = []
        for vf in self.views:
            start = len(fields)
            for name, length in vf.features:
                fields.append(_mmh3(f"{vf.view}:{name}"))
                self.columns.append((f"{vf.view}__{name}", length is not None))
            self._view_slices.append((start, len(fields)))
            self._ts_positions.append(len(fields))
            fields.append(f"_ts:{vf.view}".encode())
        self.fields = fields

    def redis_key(self, utterance_id: str) -> bytes:
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

    def fetch(self, utterance_ids: Sequence[str]) -> list[list[bytes | None]]:
        """Raw field values, one list per id (one pipelined round trip)."""
        pipe = self._client.pipeline(transaction=False)
        for uid in utterance_ids:
            pipe.hmget(self.redis_key(uid), self.fields)
        result: list[list[bytes | None]] = pipe.execute()
        return result

    def read(self, utterance_ids: Sequence[str]) -> dict[str, list[Any]]:
        """Column name → values; ``found`` is True when every view has a value for the id.

        A view with no row for an id yields None for its features (never a default value),
        and ``missing_views`` lists those views.
        """
        raw_rows = self.fetch(utterance_ids)
        out: dict[str, list[Any]] = {"utterance_id": list(utterance_ids)}
        for name, _ in self.columns:
            out[name] = []
        found: list[bool] = []
        missing: list[list[str]] = []
        col_names = [c for c, _ in self.columns]
        vec_flags = [v for _, v in self.columns]
        for raw in raw_rows:
            missing_views: list[str] = []
            col = 0
            for vf, (start, end), ts_pos in zip(
                self.views, self._view_slices, self._ts_positions, strict=True
            ):
                present = raw[ts_pos] is not None
                if not present:
                    missing_views.append(vf.view)
                for pos in range(start, end):
                    value = raw[pos] if present else None
                    decoded = (
                        decode_value(value, vec_flags[col]) if value is not None else None
                    )
                    out[col_names[col]].append(decoded)
                    col += 1
            found.append(not missing_views)
            missing.append(missing_views)
        out["found"] = found
        out["missing_views"] = missing
        return out
