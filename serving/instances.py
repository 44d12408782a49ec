"""A small pool of interchangeable objects, each used by one thread at a time.

Extractors keep per-call state (buffers, caches) and are not promised to be thread-safe,
so a shared extractor serialises every request on one lock.  For weight-free extractors
(``spec.needs_weights`` false) a second or third instance costs next to nothing, and a pool
of ``size`` of them lets that many requests compute features at once — on the machine's
cores instead of one.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class InstancePool(Generic[T]):
    """Up to ``size`` instances made by ``make`` on demand; ``use()`` lends one out."""

    def __init__(self, make: Callable[[], T], size: int, first: T | None = None) -> None:
        if size < 1:
            raise ValueError(f"InstancePool size must be at least 1, got {size}")
        self._make = make
        self.size = size
        self._free: list[T] = [] if first is None else [first]
        self._made = 0 if first is None else 1
        self._cond = threading.Condition()

    @property
    def made(self) -> int:
        with self._cond:
            return self._made

    @contextlib.contextmanager
    def use(self) -> Iterator[T]:
        """An instance for this thread alone until the block ends (waits when all are out)."""
        with self._cond:
            while not self._free and self._made >= self.size:
                self._cond.wait()
            instance = self._free.pop() if self._free else None
            if instance is None:
                self._made += 1  # reserve the slot; build outside the lock
        if instance is None:
            try:
                instance = self._make()
            except BaseException:
                with self._cond:
                    self._made -= 1
                    self._cond.notify()
                raise
        try:
            yield instance
        finally:
            with self._cond:
                self._free.append(instance)
                self._cond.notify()
