"""Run independent training work on parallel lanes: one thread per lane, few torch threads each.

The lidnet encoders (two premium members and ``lidnet-mini``) each take their own step on
the same batch, and nothing in one step reads another encoder's state, so the steps can
run at once.  On a 2-core machine two lanes of one torch thread each beat one lane of two
threads: the encoders' convolutions are small, and torch's intra-op threads spend much of
such a step waiting for each other (and far more when the machine is shared: measured in
``benchmarks/encoder_lanes.py``).  Each lane runs its encoders in a fixed order and each
encoder keeps its own random stream, so the result does not depend on thread timing.

:func:`plan_lanes` balances the lanes by an estimated cost per item (longest first);
:class:`Lanes` runs a function over every item of every lane and returns the results in
item order; :func:`prefetch` computes the next item of an iterator on a worker thread
while the caller works on the current one (the crops' augmentation is numpy work that
releases the GIL).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar, cast

T = TypeVar("T")
R = TypeVar("R")


def plan_lanes(costs: Sequence[float], lanes: int) -> list[list[int]]:
    """Item indices per lane (at most ``lanes``, none empty): the costliest item first
    onto the least loaded lane, each lane's items in their original order."""
    if lanes < 1:
        raise ValueError(f"lanes must be >= 1, got {lanes}")
    n = min(lanes, len(costs))
    if n == 0:
        return []
    load = [0.0] * n
    plan: list[list[int]] = [[] for _ in range(n)]
    for i in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        lane = min(range(n), key=lambda k: (load[k], k))
        plan[lane].append(i)
        load[lane] += float(costs[i])
    return [sorted(items) for items in plan]


@dataclass(frozen=True)
class LaneSettings:
    """How many lanes and torch threads per lane a thread budget allows."""

    lanes: int
    threads_per_lane: int

    @classmethod
    def for_budget(cls, items: int, threads: int, parallel: bool = True) -> LaneSettings:
        """``threads`` (e.g. ``torch.get_num_threads()``) split over up to ``items`` lanes;
        one lane with every thread when ``parallel`` is off or there is one thread."""
        threads = max(1, threads)
        if not parallel or items <= 1 or threads == 1:
            return cls(1, threads)
        lanes = min(items, threads)
        return cls(lanes, max(1, threads // lanes))


class Lanes:
    """A pool of lane threads (``with Lanes(n) as lanes: lanes.map(fn, items, plan)``)."""

    def __init__(self, lanes: int) -> None:
        self.size = max(1, lanes)
        self._pool: ThreadPoolExecutor | None = None

    def __enter__(self) -> Lanes:
        if self.size > 1:
            self._pool = ThreadPoolExecutor(self.size, thread_name_prefix="nordlid-lane")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def map(self, fn: Callable[[T], R], items: Sequence[T], plan: list[list[int]]) -> list[R]:
        """``[fn(item) for item in items]``, each lane of ``plan`` on its own thread; an
        exception in any lane is raised here after every lane has finished."""
        if sorted(i for lane in plan for i in lane) != list(range(len(items))):
            raise ValueError(f"lane plan {plan} does not cover items 0..{len(items) - 1} once")
        results: dict[int, R] = {}

        def run(lane: list[int]) -> dict[int, R]:
            return {i: fn(items[i]) for i in lane}

        if self._pool is None or len(plan) <= 1:
            for lane in plan:
                results.update(run(lane))
        else:
            futures = [self._pool.submit(run, lane) for lane in plan]
            errors = [f.exception() for f in futures]
            for f, err in zip(futures, errors, strict=True):
                if err is not None:
                    raise err
                results.update(f.result())
        return [results[i] for i in range(len(items))]


def prefetch(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Yield ``items`` while a worker thread computes up to ``depth`` ahead.  The iterator
    is consumed strictly in order on that one thread (so a random stream it draws from is
    used in the same order as without prefetching); an exception it raises is raised here."""
    buffer: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(message: tuple[str, object]) -> bool:
        while not stop.is_set():
            try:
                buffer.put(message, timeout=0.1)
            except queue.Full:
                continue
            return True
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(("item", item)):
                    return
        except Exception as exc:  # noqa: BLE001 - handed to the consumer and re-raised there
            put(("error", exc))
            return
        put(("done", None))

    worker = threading.Thread(target=produce, name="nordlid-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = buffer.get()
            if kind == "done":
                return
            if kind == "error":
                assert isinstance(value, Exception)
                raise value
            yield cast(T, value)
    finally:
        stop.set()
        worker.join()
