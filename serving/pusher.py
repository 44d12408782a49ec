"""Push computed features to the online store off the request path.

A bounded queue feeds one worker thread; each push is tried ``attempts`` times with a
doubling back-off, then dropped with a warning and a metric.  When Redis is down,
``/v1/identify`` keeps answering: it only enqueues (and a full queue drops the oldest).
The request thread enqueues the raw feature row; the PushSource frame is built here, on
the worker thread, with the request's own timestamp.
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


def push_frame(utterance_id: str, row: FeatureRow, at: datetime | None = None) -> pd.DataFrame:
    """One feature row as the PushSource frame (entity, timestamps, unprefixed features)."""
    now = pd.Timestamp(at or datetime.now(UTC))
    data: dict[str, list[Any]] = {
        "utterance_id": [utterance_id],
        "event_timestamp": [now],
        "created_timestamp": [now],
    }
    for key, value in row.items():
        if isinstance(value, np.ndarray | list | tuple):
            data[key] = [np.asarray(value, dtype=np.float32).tolist()]
        else:
            data[key] = [value]
    return pd.DataFrame(data)


@dataclass(frozen=True)
class PushJob:
    """One utterance's row of one view, stamped when the request was answered."""

    view: str
    utterance_id: str
    row: FeatureRow
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def frame(self) -> pd.DataFrame:
        return push_frame(self.utterance_id, self.row, self.at)


class Pusher:
    def __init__(
        self,
        store: OnlineStore,
        *,
        attempts: int = 3,
        backoff_s: float = 0.2,
        max_queue: int = 1000,
        on_result: Callable[[str, bool], None] | None = None,
    ) -> None:
        self.store = store
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.on_result = on_result or (lambda view, ok: None)
        self._queue: queue.Queue[PushJob | None] = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.dropped = 0
        self.pushed = 0

    def start(self) -> None:
        if self._thread is None:
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
            job = self._queue.get()
            try:
                if job is None:
                    return
                self._push(job)
            finally:
                self._queue.task_done()

    def _push(self, job: PushJob) -> None:
        wait = self.backoff_s
        last = ""
        rows = job.frame()
        for attempt in range(1, self.attempts + 1):
            try:
                self.store.push(job.view, rows)
            except OnlineStoreUnavailableError as exc:
                last = str(exc)
                log.info("push to %r failed (try %d/%d): %s", job.view, attempt, self.attempts, exc)
                if attempt < self.attempts and not self._stop.is_set():
                    time.sleep(wait)  # back-off between retries (worker thread only)
                    wait *= 2
                continue
            self.pushed += 1
            self.on_result(job.view, True)
            return
        self._drop(job, last)
