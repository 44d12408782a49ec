"""Direct materialization into the Redis online store, in Feast's exact layout.

Feast's local engine reads a view through pandas and converts every float of every vector to
protobuf in Python (46–95 rows/s, ~10 CPU-ms a row, for wide embedding rows on the development
machine).  This writer produces the same Redis hashes at close to Redis's own speed:

1. **which rows** — only the key columns (id, event time, created time) of the view's Parquet
   files are read, and the latest row per utterance in ``[start, end]`` is chosen (event time,
   then created time, then file order);
2. **values** — the feature columns are streamed row group by row group (memory stays at one
   batch) and each batch is encoded column-wise: the serialized ``feast.Value`` of a float
   vector is a fixed header plus its packed float32 bytes, so a column of a batch becomes one
   numpy block that already holds the complete RESP arguments of the ``HSET`` (field key,
   lengths, value).  Values of any other shape (nulls, strings, integers) go through Feast's
   own conversion;
3. **writes** — a background thread sends each batch's pre-packed ``HSET`` commands on one
   connection and reads the replies while the next batch is decoded and encoded.  Before
   writing a batch it reads the stored ``_ts:<view>`` of the batch's keys (one pipelined round
   trip) and skips every row that is not newer, which is the check Feast's Redis store makes
   (``dedup=False`` leaves it out, as Feast's ``skip_dedup`` does).

The caller records the interval in the Feast registry (``apply_materialization``).  A test
checks that the hashes written here are byte-identical to Feast's own materialization.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from feature_repo.feast_compat import DOUBLE_TAG, FLOAT_TAG, field_key, vector_header
from feature_repo.online import EntityKeyEncoder
from nordlid.errors import NordlidError

if TYPE_CHECKING:
    from feast import FeatureView

logger = logging.getLogger(__name__)

TS_FIELD = "event_timestamp"
CREATED_FIELD = "created_timestamp"
_CRLF = b"\r\n"
_NO_TIME = np.iinfo(np.int64).min
"""Stands in for a null timestamp (never inside a materialization interval)."""
# feast.Value float_val (field 6, fixed32) and double_val (field 5, fixed64)
_SCALAR_TAGS = {pa.float32(): (FLOAT_TAG, "<f4"), pa.float64(): (DOUBLE_TAG, "<f8")}


class RedisWriteError(NordlidError):
    """Redis refused a write during direct materialization."""


@dataclass(frozen=True)
class FeatureField:
    """One feature of a view as it is stored: name, vector length (None: scalar), Feast value
    type and the hash field (``mmh3("<view>:<feature>")``)."""

    name: str
    length: int | None
    value_type: Any
    field_key: bytes


def view_fields(view: FeatureView) -> list[FeatureField]:
    return [
        FeatureField(
            name=f.name,
            length=int(f.vector_length) if f.vector_length else None,
            value_type=f.dtype.to_value_type(),
            field_key=field_key(view.name, f.name),
        )
        for f in view.features
    ]


# --- which rows ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileRows:
    """The rows of one Parquet file to write: row numbers (ascending), ids and event times
    (microseconds since the epoch, UTC), aligned."""

    path: Path
    rows: np.ndarray
    ids: list[str]
    micros: np.ndarray


def _micros(column: pa.ChunkedArray, where: str) -> np.ndarray:
    """Timestamps as int64 microseconds since the epoch (UTC; a naive time counts as UTC, finer
    units are truncated as Feast's datetime conversion does; null → ``_NO_TIME``)."""
    if not pa.types.is_timestamp(column.type):
        raise NordlidError(f"{where} is {column.type}, expected a timestamp")
    us = column.cast(pa.timestamp("us", tz="UTC"), safe=False).cast(pa.int64())
    return np.asarray(pc.fill_null(us, _NO_TIME).to_numpy(), dtype=np.int64)


def to_micros(moment: datetime) -> int:
    return int(pa.scalar(moment, pa.timestamp("us", tz="UTC")).cast(pa.int64()).as_py())


def select_rows(
    paths: Sequence[Path], start: datetime, end: datetime, join_key: str = "utterance_id"
) -> list[FileRows]:
    """The latest row per id with an event time in ``[start, end]``, across ``paths``.

    Latest means the greatest event time, then created time, then the later file / row — the
    row Feast's offline store hands to materialization.  Only the key columns are read.
    """
    lo, hi = to_micros(start), to_micros(end)
    ids_parts: list[pa.ChunkedArray] = []
    ts_parts: list[np.ndarray] = []
    created_parts: list[np.ndarray] = []
    file_parts: list[np.ndarray] = []
    row_parts: list[np.ndarray] = []
    for k, path in enumerate(paths):
        pf = pq.ParquetFile(path)
        names = pf.schema_arrow.names
        has_created = CREATED_FIELD in names
        keys = pf.read(columns=[join_key, TS_FIELD, *([CREATED_FIELD] if has_created else [])])
        ts = _micros(keys.column(TS_FIELD), f"{path}: column {TS_FIELD!r}")
        inside = np.flatnonzero((ts >= lo) & (ts <= hi))
        if inside.size == 0:
            continue
        ids_parts.append(keys.column(join_key).take(pa.array(inside)))
        ts_parts.append(ts[inside])
        created = (
            _micros(keys.column(CREATED_FIELD), f"{path}: column {CREATED_FIELD!r}")[inside]
            if has_created
            else np.full(inside.size, _NO_TIME, dtype=np.int64)
        )
        created_parts.append(created)
        file_parts.append(np.full(inside.size, k, dtype=np.int64))
        row_parts.append(inside.astype(np.int64))
    if not ids_parts:
        return []
    ids = pa.chunked_array([c for part in ids_parts for c in part.chunks], ids_parts[0].type)
    ts_all = np.concatenate(ts_parts)
    files = np.concatenate(file_parts)
    rows = np.concatenate(row_parts)
    if pc.count_distinct(ids).as_py() == len(ids) and ids.null_count == 0:
        chosen = np.arange(len(ids))  # one row per utterance: nothing to choose (the usual case)
    else:
        order_table = pa.table(
            {
                "id": ids,
                "ts": ts_all,
                "created": np.concatenate(created_parts),
                "seq": np.arange(len(ids)),
            }
        )
        order = pc.sort_indices(
            order_table,
            sort_keys=[
                ("id", "ascending"),
                ("ts", "ascending"),
                ("created", "ascending"),
                ("seq", "ascending"),
            ],
        ).to_numpy()
        sorted_ids = ids.take(pa.array(order)).to_numpy(zero_copy_only=False)
        last = np.ones(len(order), dtype=bool)
        last[:-1] = sorted_ids[1:] != sorted_ids[:-1]
        chosen = order[last & np.asarray([u is not None for u in sorted_ids])]
    out: list[FileRows] = []
    id_values = ids.to_numpy(zero_copy_only=False)
    for k, path in enumerate(paths):
        mine = chosen[files[chosen] == k]
        if mine.size == 0:
            continue
        mine = mine[np.argsort(rows[mine], kind="stable")]
        out.append(
            FileRows(
                path=path,
                rows=rows[mine],
                ids=[str(u) for u in id_values[mine]],
                micros=ts_all[mine],
            )
        )
    return out


# --- values ------------------------------------------------------------------------------------


def _bulk(value: bytes) -> bytes:
    """One RESP bulk string."""
    return b"$%d\r\n%s\r\n" % (len(value), value)


def timestamp_values(micros: np.ndarray) -> list[bytes]:
    """Serialized ``google.protobuf.Timestamp`` of each time (as Feast's ``FromDatetime``)."""
    from google.protobuf.timestamp_pb2 import Timestamp

    unique, inverse = np.unique(micros, return_inverse=True)
    encoded = []
    for us in unique.tolist():
        seconds, rem = divmod(us, 1_000_000)
        encoded.append(Timestamp(seconds=seconds, nanos=rem * 1000).SerializeToString())
    return [encoded[i] for i in inverse.reshape(-1).tolist()]


def _fixed_cell(column: pa.Array, feature: FeatureField) -> tuple[bytes, np.ndarray] | None:
    """(bytes before the value's data, data as an (n, w) uint8 array) when every row of the
    column serializes to the same layout; None otherwise."""
    n = len(column)
    if column.null_count:
        return None
    if feature.length:
        if not (
            pa.types.is_list(column.type)
            or pa.types.is_large_list(column.type)
            or pa.types.is_fixed_size_list(column.type)
        ):
            return None
        lengths = pc.list_value_length(column)
        bounds = pc.min_max(lengths)
        if n and (
            bounds["min"].as_py() != feature.length or bounds["max"].as_py() != feature.length
        ):
            return None
        values = column.flatten()
        if values.null_count or not pa.types.is_floating(values.type):
            return None
        flat = values.to_numpy(zero_copy_only=False).astype("<f4", copy=False)
        header = vector_header(feature.length)
        pre = b"$%d\r\n" % (len(header) + 4 * feature.length) + header
        return pre, flat.reshape(n, feature.length).view(np.uint8)
    layout = _SCALAR_TAGS.get(column.type)
    if layout is None:
        return None
    tag, dtype = layout
    data = column.to_numpy(zero_copy_only=False).astype(dtype, copy=False)
    if np.isnan(data).any():
        return None  # Feast stores a NaN scalar as an empty (null) value
    return b"$%d\r\n" % (1 + data.itemsize) + tag, data.reshape(n, 1).view(np.uint8)


def _feast_values(column: pa.Array, feature: FeatureField) -> list[bytes]:
    """Serialized ``feast.Value`` of every row through Feast's own conversion."""
    from feast.type_map import python_values_to_proto_values

    values = python_values_to_proto_values(
        column.to_numpy(zero_copy_only=False), feature.value_type
    )
    return [v.SerializeToString() for v in values]


@dataclass(frozen=True)
class CommandBlock:
    """The complete ``HSET`` commands of some rows of a batch, all of the same length: row
    ``j`` of ``data`` is the command of batch row ``rows[j]``."""

    rows: np.ndarray
    data: np.ndarray


@dataclass
class EncodedBatch:
    """The ``HSET`` of every row of a batch, ready to send as it is (no further copy)."""

    keys: list[bytes]
    micros: np.ndarray
    blocks: list[CommandBlock]

    def __len__(self) -> int:
        return len(self.keys)

    def commands(self, rows: Sequence[int] | None = None) -> list[memoryview]:
        """The commands of ``rows`` (all rows: None), as buffers to send one after another."""
        if rows is None:
            return [block.data.reshape(-1).data for block in self.blocks]
        wanted = np.zeros(len(self), dtype=bool)
        wanted[np.asarray(rows, dtype=np.int64)] = True
        out = []
        for block in self.blocks:
            keep = wanted[block.rows]
            if keep.all():
                out.append(block.data.reshape(-1).data)
            elif keep.any():
                out.append(np.ascontiguousarray(block.data[keep]).reshape(-1).data)
        return out


def encode_batch(
    batch: pa.RecordBatch,
    features: Sequence[FeatureField],
    keys: list[bytes],
    micros: np.ndarray,
    ts_key: bytes,
) -> EncodedBatch:
    """RESP ``HSET key _ts:<view> <Timestamp> <field> <Value> ...`` for every row of ``batch``.

    A row's command is its variable part (header, key, timestamp and the fields whose values
    vary in length) followed by the fixed-layout fields (float vectors and float scalars;
    field order does not matter to a hash).  Rows whose variable parts have the same length
    share one numpy block, so the float data is copied once, into the bytes that are sent.
    """
    n = batch.num_rows
    head = b"*%d\r\n$4\r\nHSET\r\n" % (4 + 2 * len(features))
    ts_head = _bulk(ts_key)
    fixed: list[tuple[bytes, np.ndarray]] = []
    varying: list[list[bytes]] = []
    for feature in features:
        column = batch.column(feature.name)
        field_head = _bulk(feature.field_key)
        cell = _fixed_cell(column, feature)
        if cell is not None:
            fixed.append((field_head + cell[0], cell[1]))
        else:
            varying.append([field_head + _bulk(v) for v in _feast_values(column, feature)])
    heads = [
        b"".join((head, _bulk(key), ts_head, _bulk(stamp), *(v[i] for v in varying)))
        for i, (key, stamp) in enumerate(zip(keys, timestamp_values(micros), strict=True))
    ]
    width = sum(len(pre) + data.shape[1] + 2 for pre, data in fixed)
    lengths = np.fromiter((len(h) for h in heads), dtype=np.int64, count=n)
    blocks = []
    for length in np.unique(lengths).tolist():
        rows = np.flatnonzero(lengths == length)
        every = rows.size == n
        out = np.empty((rows.size, length + width), dtype=np.uint8)
        out[:, :length] = np.frombuffer(
            b"".join(heads) if every else b"".join(heads[i] for i in rows.tolist()),
            dtype=np.uint8,
        ).reshape(rows.size, length)
        offset = length
        for pre, data in fixed:
            out[:, offset : offset + len(pre)] = np.frombuffer(pre, dtype=np.uint8)
            offset += len(pre)
            out[:, offset : offset + data.shape[1]] = data if every else data[rows]
            offset += data.shape[1]
            out[:, offset : offset + 2] = np.frombuffer(_CRLF, dtype=np.uint8)
            offset += 2
        blocks.append(CommandBlock(rows=rows, data=out))
    return EncodedBatch(keys=keys, micros=micros, blocks=blocks)


def encode_rows(
    keys: list[bytes],
    micros: np.ndarray,
    fields: Sequence[Sequence[tuple[bytes, bytes]]],
    ts_key: bytes,
) -> EncodedBatch:
    """``HSET key _ts:<view> <Timestamp> <field> <value> ...`` of rows whose values are already
    serialized (``fields[i]``: (hash field, serialized ``feast.Value``) of row ``i``); rows
    whose commands have the same length share one block."""
    ts_head = _bulk(ts_key)
    commands = [
        b"".join(
            (
                b"*%d\r\n$4\r\nHSET\r\n" % (4 + 2 * len(row)),
                _bulk(key),
                ts_head,
                _bulk(stamp),
                *(_bulk(f) + _bulk(v) for f, v in row),
            )
        )
        for key, stamp, row in zip(keys, timestamp_values(micros), fields, strict=True)
    ]
    lengths = np.fromiter((len(c) for c in commands), dtype=np.int64, count=len(commands))
    blocks = []
    for length in np.unique(lengths).tolist():
        rows = np.flatnonzero(lengths == length)
        data = np.frombuffer(b"".join(commands[i] for i in rows.tolist()), dtype=np.uint8)
        blocks.append(CommandBlock(rows=rows, data=data.reshape(rows.size, length)))
    return EncodedBatch(keys=keys, micros=micros, blocks=blocks)


def _row_groups(pf: pq.ParquetFile, rows: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(row group, the wanted rows inside it, counted from the group's first row)."""
    first = 0
    for g in range(pf.metadata.num_row_groups):
        size = pf.metadata.row_group(g).num_rows
        lo, hi = np.searchsorted(rows, [first, first + size])
        if hi > lo:
            yield g, rows[lo:hi] - first
        first += size


def read_batches(
    selection: Sequence[FileRows],
    features: Sequence[FeatureField],
    encoder: EntityKeyEncoder,
    ts_key: bytes,
    batch_rows: int,
) -> Iterator[EncodedBatch]:
    """Stream the selected rows of every file as encoded batches of at most ``batch_rows``."""
    columns = [f.name for f in features]
    for part in selection:
        pf = pq.ParquetFile(part.path, pre_buffer=True)
        done = 0
        for group, wanted in _row_groups(pf, part.rows):
            first = 0
            for batch in pf.iter_batches(
                batch_size=batch_rows, row_groups=[group], columns=columns, use_threads=True
            ):
                lo, hi = np.searchsorted(wanted, [first, first + batch.num_rows])
                local = wanted[lo:hi] - first
                first += batch.num_rows
                if local.size == 0:
                    continue
                if len(local) != batch.num_rows:
                    batch = batch.take(pa.array(local))
                ids = part.ids[done : done + len(local)]
                micros = part.micros[done : done + len(local)]
                done += len(local)
                yield encode_batch(batch, features, [encoder.key(u) for u in ids], micros, ts_key)


# --- writes ------------------------------------------------------------------------------------


def _newer_rows(conn: Any, batch: EncodedBatch, ts_key: bytes) -> list[int]:
    """Rows whose event time is later than the one stored under ``_ts:<view>`` (Feast's
    check: a row at the same instant as the stored one, or older, is skipped)."""
    from google.protobuf.timestamp_pb2 import Timestamp

    field = _bulk(ts_key)
    conn.send_packed_command(
        [b"".join(b"*3\r\n$4\r\nHGET\r\n" + _bulk(key) + field for key in batch.keys)]
    )
    keep: list[int] = []
    new_nanos = batch.micros * 1000
    for i in range(len(batch)):
        raw = conn.read_response()
        if raw:
            stamp = Timestamp.FromString(raw)
            stored = stamp.seconds * 1_000_000_000 + stamp.nanos
            if stored and int(new_nanos[i]) <= stored:
                continue
        keep.append(i)
    return keep


def send_batch(conn: Any, batch: EncodedBatch, ts_key: bytes, dedup: bool) -> int:
    """Write one batch on a redis-py connection; returns the rows written."""
    rows = _newer_rows(conn, batch, ts_key) if dedup else list(range(len(batch)))
    if not rows:
        return 0
    conn.send_packed_command(batch.commands(None if len(rows) == len(batch) else rows))
    for _ in rows:
        conn.read_response()
    return len(rows)


def _send_overlapped(
    conn: Any, batches: Iterator[EncodedBatch], ts_key: bytes, dedup: bool, depth: int = 2
) -> int:
    """Send batches from one worker thread (in order, on one connection) while the caller's
    thread reads and encodes the next ones; socket I/O and Parquet decoding release the GIL.
    At most ``depth`` encoded batches wait.  A failure stops the rest and is re-raised."""
    written = 0
    pending: deque[Future[int]] = deque()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="nordlid-redis-writer") as pool:
        try:
            for batch in batches:
                if len(pending) >= depth:
                    written += pending.popleft().result()
                pending.append(pool.submit(send_batch, conn, batch, ts_key, dedup))
            while pending:
                written += pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
    return written


def write_view(
    client: Any,
    project: str,
    view: FeatureView,
    paths: list[Path],
    start: datetime,
    end: datetime,
    *,
    join_key: str = "utterance_id",
    entity_key_serialization_version: int = 3,
    batch_rows: int = 500,
    dedup: bool = True,
    overlap: bool = True,
) -> int:
    """Write the latest row per utterance of ``view`` in ``[start, end]`` to Redis (a
    ``redis.Redis`` client); returns the rows written.

    ``overlap=False`` sends every batch from the calling thread (same bytes, no thread).
    """
    features = view_fields(view)
    selection = select_rows(paths, start, end, join_key)
    if not selection:
        return 0
    encoder = EntityKeyEncoder(project, join_key, entity_key_serialization_version)
    ts_key = f"_ts:{view.name}".encode()
    batches = read_batches(selection, features, encoder, ts_key, batch_rows)
    return send_batches(client, batches, ts_key, view.name, dedup=dedup, overlap=overlap)


def send_batches(
    client: Any,
    batches: Iterable[EncodedBatch],
    ts_key: bytes,
    view: str,
    *,
    dedup: bool = True,
    overlap: bool = True,
) -> int:
    """Send encoded batches on one connection of ``client`` (a ``redis.Redis``); returns the
    rows written.  A refused write is a :class:`RedisWriteError` naming ``view``."""
    import redis

    pool = client.connection_pool
    conn = pool.get_connection()
    try:
        if overlap:
            return _send_overlapped(conn, iter(batches), ts_key, dedup)
        return sum(send_batch(conn, batch, ts_key, dedup) for batch in batches)
    except redis.ResponseError as exc:
        conn.disconnect()  # the replies of the rest of the batch are still unread
        raise RedisWriteError(f"view {view!r}: Redis refused a write: {exc}") from exc
    except BaseException:
        conn.disconnect()
        raise
    finally:
        pool.release(conn)
