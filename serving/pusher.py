"""Push computed features to the online store off the request path.

A bounded queue feeds one worker thread; each push is tried ``attempts`` times with a
doubling back-off, then dropped with a warning and a metric.  Rows the store rejects as
malformed are dropped at once (with the error), and the worker keeps serving the queue.
When Redis is down, ``/v1/identify`` keeps answering: it only enqueues (and a full queue
drops the oldest).
The request thread enqueues the raw feature row; the PushSource frame is built here, on
the worker thread, with the request's own timestamp.

Pushes are coalesced: after the first job the worker collects whatever else arrives within
``linger_s`` (up to ``max_batch`` rows) and writes each view's rows as one frame.  One
Feast push costs milliseconds of GIL-holding Python whatever its size, so under load this
takes that cost off the requests running beside it; the online row lands at most
``linger_s`` later.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from serving.errors import OnlineStoreUnavailableError
from serving.predictor import FeatureRow, OnlineStore

log = logging.getLogger(__name__)

# What Feast and pyarrow raise for rows that do not fit the view (pyarrow's ArrowInvalid and
# ArrowTypeError subclass ValueError and TypeError).
REJECTED_ROW_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, KeyError)


def push_frames(items: list[tuple[str, FeatureRow, datetime]]) -> pd.DataFrame:
    """Rows ``(utterance_id, features, timestamp)`` of one view as one PushSource frame."""
    stamps = [pd.Timestamp(at) for _, _, at in items]
    data: dict[str, list[Any]] = {
        "utterance_id": [uid for uid, _, _ in items],
        "event_timestamp": stamps,
        "created_timestamp": list(stamps),
    }
    for key in dict.fromkeys(k for _, row, _ in items for k in row):
        values = [row.get(key) for _, row, _ in items]
        data[key] = [
            np.asarray(v, dtype=np.float32).tolist()
            if isinstance(v, np.ndarray | list | tuple)
            else v
            for v in values
        ]
    return pd.DataFrame(data)


@dataclass(frozen=True)
class PushJob:
    """One utterance's row of one view, stamped when the request was answered."""

    view: str
    utterance_id: str
    row: FeatureRow
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


class Pusher:
    def __init__(
        self,
        store: OnlineStore,
        *,
        attempts: int = 3,
        backoff_s: float = 0.2,
        max_queue: int = 1000,
        linger_s: float = 0.0,
        max_batch: int = 64,
        on_result: Callable[[str, bool], None] | None = None,
    ) -> None:
        self.store = store
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.linger_s = linger_s
        self.max_batch = max(1, max_batch)
        self.on_result = on_result or (lambda view, ok: None)
        self._queue: queue.Queue[PushJob | None] = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.dropped = 0
        self.pushed = 0

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="nordlid-pusher", daemon=True)
            self._thread.start()

    def submit(self, job: PushJob) -> None:
        while True:
            try:
                self._queue.put_nowait(job)
                return
            except queue.Full:
                try:
                    old = self._queue.get_nowait()
                    self._queue.task_done()
                except queue.Empty:
                    continue
                if old is not None:
                    self._drop(old, "push queue full")

    def join(self) -> None:
        """Block until every submitted push has been written or dropped."""
        self._queue.join()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._queue.put(None)
        self._thread.join()
        self._thread = None

    def _drop(self, job: PushJob, why: str) -> None:
        self.dropped += 1
        log.warning(
            "dropped online-store push of %r to view %r: %s", job.utterance_id, job.view, why
        )
        self.on_result(job.view, False)

    def _run(self) -> None:
        while True:
            batch = self._collect(self._queue.get())
            try:
                jobs = [j for j in batch if j is not None]
                by_view: dict[str, list[PushJob]] = {}
                for job in jobs:
                    by_view.setdefault(job.view, []).append(job)
                for view, group in by_view.items():
                    self._push(view, group)
                if len(jobs) < len(batch):  # the stop marker
                    return
            finally:
                for _ in batch:
                    self._queue.task_done()

    def _collect(self, first: PushJob | None) -> list[PushJob | None]:
        """``first`` and the jobs that arrive within ``linger_s`` (a batching window)."""
        batch = [first]
        if first is None:
            return batch
        deadline = time.monotonic() + self.linger_s
        while len(batch) < self.max_batch:
            remaining = 0.0 if self._stop.is_set() else deadline - time.monotonic()
            try:
                job = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            batch.append(job)
            if job is None:
                break
        return batch

    def _push(self, view: str, jobs: list[PushJob]) -> None:
        try:
            rows = push_frames([(j.utterance_id, j.row, j.at) for j in jobs])
            failure = self._write(view, rows)
        except REJECTED_ROW_ERRORS as exc:
            # the rows themselves are wrong (schema or type mismatch): retrying cannot
            # help, and the worker must live on for the pushes behind them
            log.error("push to %r rejected its %d rows: %r", view, len(jobs), exc)
            failure = f"rejected by the store: {exc!r}"
        if failure is None:
            self.pushed += len(jobs)
            for _ in jobs:
                self.on_result(view, True)
            return
        for job in jobs:
            self._drop(job, failure)

    def _write(self, view: str, rows: pd.DataFrame) -> str | None:
        """Push ``rows``, retrying while the store is unavailable; None once written, else
        the last unavailability message."""
        wait = self.backoff_s
        last = ""
        for attempt in range(1, self.attempts + 1):
            try:
                self.store.push(view, rows)
            except OnlineStoreUnavailableError as exc:
                last = str(exc)
                log.info("push to %r failed (try %d/%d): %s", view, attempt, self.attempts, exc)
                if attempt < self.attempts and not self._stop.is_set():
                    time.sleep(wait)  # back-off between retries (worker thread only)
                    wait *= 2
                continue
            return None
        return last
