"""Buffered Parquet logs: ``data/serving_log/`` (requests) and ``data/feedback/`` (labels).

Rows are buffered in memory and written as one part file when the buffer reaches
``flush_rows``, when it is older than ``flush_seconds`` (checked on every append and by
the service's periodic tick) and on shutdown.  Each part is written to a temporary name
and renamed, so a reader (drift monitoring) never sees half a file.  With
``background=True`` (the service's logs) an append that makes the buffer due hands the
write to a short-lived thread, so no request waits for a Parquet write.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from nordlid.atomic import atomic_path
from serving.predictor import Prediction

log = logging.getLogger(__name__)

SERVING_LOG_FIXED = (
    "request_id",
    "timestamp",
    "route",
    "model",
    "language",
    "confidence",
    "probabilities",
    "escalated",
    "duration_s",
    "timings",
)


def _arrow_value_type(values: list[Any]) -> pa.DataType | None:
    for v in values:
        if v is None:
            continue
        if isinstance(v, list | tuple | np.ndarray):
            return pa.list_(pa.float32())
        return None
    return None


def rows_to_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Union of the rows' keys as columns; vectors as ``list<float32>``, missing as null."""
    columns: list[str] = []
    seen: set[str] = set()
    for row in rows:
        for key in row:
            if key not in seen:
                seen.add(key)
                columns.append(key)
    arrays = {}
    for col in columns:
        values = [row.get(col) for row in rows]
        vtype = _arrow_value_type(values)
        if vtype is not None:
            values = [
                None if v is None else np.asarray(v, dtype=np.float32).tolist() for v in values
            ]
            arrays[col] = pa.array(values, type=vtype)
        elif col == "timestamp":
            arrays[col] = pa.array(values, type=pa.timestamp("us", tz="UTC"))
        else:
            arrays[col] = pa.array(values)
    return pa.table(arrays)


class BufferedParquetLog:
    """Thread-safe buffer of dict rows flushed as ``part-<time>-<uuid>.parquet`` files."""

    def __init__(
        self,
        directory: Path,
        flush_rows: int = 256,
        flush_seconds: float = 30.0,
        *,
        background: bool = False,
    ) -> None:
        self.directory = directory
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.background = background
        self._rows: list[dict[str, Any]] = []
        self._first_at: float | None = None
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._flusher: threading.Thread | None = None

    def append(self, row: dict[str, Any]) -> None:
        with self._lock:
            self._rows.append(row)
            if self._first_at is None:
                self._first_at = time.monotonic()
            due = self._due_locked()
            if due and self.background:
                if self._flusher is not None and self._flusher.is_alive():
                    return  # the running flush, or the next append after it, takes these rows
                self._flusher = threading.Thread(
                    target=self.flush, name="nordlid-log-flush", daemon=True
                )
                self._flusher.start()
                return
        if due:
            self.flush()

    def _due_locked(self) -> bool:
        if not self._rows:
            return False
        if len(self._rows) >= self.flush_rows:
            return True
        return (
            self._first_at is not None and time.monotonic() - self._first_at >= self.flush_seconds
        )

    def flush_if_due(self) -> Path | None:
        with self._lock:
            due = self._due_locked()
        return self.flush() if due else None

    def join(self) -> None:
        """Wait for a background flush that is running (if any) to finish."""
        with self._lock:
            flusher = self._flusher
        if flusher is not None:
            flusher.join()

    def pending(self) -> int:
        with self._lock:
            return len(self._rows)

    def flush(self) -> Path | None:
        """Write the buffered rows as one part file (atomic rename); None when empty.

        The rows are taken under the write lock, so a flush that returns has written
        everything appended before it started, even while a background flush was running.
        """
        with self._write_lock:
            with self._lock:
                rows, self._rows, self._first_at = self._rows, [], None
            if not rows:
                return None
            self.directory.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
            final = self.directory / f"part-{stamp}-{uuid.uuid4().hex[:8]}.parquet"
            try:
                with atomic_path(final) as tmp:
                    pq.write_table(rows_to_table(rows), tmp)
            except (OSError, pa.ArrowException) as exc:
                log.warning("could not write %d log rows to %s: %s", len(rows), self.directory, exc)
                with self._lock:  # keep them for the next try
                    self._rows = rows + self._rows
                    self._first_at = self._first_at or time.monotonic()
                return None
        log.debug("wrote %d rows to %s", len(rows), final)
        return final


def serving_log_row(
    request_id: str,
    route: str,
    prediction: Prediction,
    duration_s: float | None,
    timings_ms: dict[str, float],
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "request_id": request_id,
        "timestamp": datetime.now(UTC),
        "route": route,
        "model": prediction.model,
        "language": prediction.language,
        "confidence": prediction.confidence,
        "probabilities": json.dumps(prediction.probabilities, sort_keys=True),
        "escalated": prediction.escalated,
        "duration_s": duration_s,
        "timings": json.dumps({k: round(v, 3) for k, v in timings_ms.items()}, sort_keys=True),
    }
    row.update(prediction.feature_columns())
    return row


class RequestIndex:
    """Recently served request ids (bounded), so feedback for an unknown id is a 404."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, request_id: str) -> None:
        with self._lock:
            self._ids[request_id] = None
            self._ids.move_to_end(request_id)
            while len(self._ids) > self.capacity:
                self._ids.popitem(last=False)

    def __contains__(self, request_id: object) -> bool:
        with self._lock:
            return request_id in self._ids

    def load_existing(self, directory: Path) -> int:
        """Index the request ids already in the serving log (newest parts last)."""
        if not directory.is_dir():
            return 0
        count = 0
        for part in sorted(directory.glob("part-*.parquet")):
            try:
                ids = pq.read_table(part, columns=["request_id"]).column("request_id").to_pylist()
            except (OSError, pa.ArrowException, KeyError) as exc:
                log.warning("serving log part %s is unreadable, skipped: %s", part, exc)
                continue
            for rid in ids:
                if rid:
                    self.add(str(rid))
                    count += 1
        return count
