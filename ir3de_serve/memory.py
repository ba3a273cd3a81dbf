"""`ExpiringMap`: a bounded map whose entries expire (completions awaiting feedback, conversations)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["ExpiringMap"]

K = TypeVar("K")
V = TypeVar("V")


class ExpiringMap(Generic[K, V]):
    """At most `max_size` entries (and `max_bytes` by `size`), each forgotten `ttl` seconds
    after it was last set.

    The oldest entries are dropped first when the map is full. Thread-safe.

    Args:
        max_size: entries kept at most.
        ttl: seconds an entry lives after its last `set`.
        max_bytes: the sum of `size` over the entries kept, at most (None: no byte bound).
        size: an entry's bytes (needed with `max_bytes`).
        clock: the time source (monotonic seconds).
    """

    def __init__(
        self,
        max_size: int,
        ttl: float,
        *,
        max_bytes: int | None = None,
        size: Callable[[V], int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_size = max_size
        self.ttl = ttl
        self.max_bytes = max_bytes
        self._size = size or (lambda _: 0)
        self.nbytes = 0
        self._clock = clock
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def set(self, key: K, value: V) -> None:
        """Store `value` under `key` (its life starts again); a value larger than `max_bytes`
        alone is not stored."""
        nbytes = self._size(value)
        with self._lock:
            self._drop(key)
            if self.max_bytes is not None and nbytes > self.max_bytes:
                return
            self._items[key] = (self._clock() + self.ttl, value)
            self.nbytes += nbytes
            self._expire()
            while len(self._items) > self.max_size or (
                self.max_bytes is not None and self.nbytes > self.max_bytes
            ):
                self._drop(next(iter(self._items)))

    def get(self, key: K) -> V | None:
        """The live value of `key`, or None."""
        with self._lock:
            entry = self._items.get(key)
            if entry is None or entry[0] < self._clock():
                return None
            return entry[1]

    def pop(self, key: K) -> V | None:
        """Remove and return the live value of `key`, or None."""
        with self._lock:
            entry = self._drop(key)
            if entry is None or entry[0] < self._clock():
                return None
            return entry[1]

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._items)

    def _expire(self) -> None:
        """Drop expired entries from the oldest end (entries are kept in expiry order)."""
        now = self._clock()
        while self._items:
            key, (deadline, _) = next(iter(self._items.items()))
            if deadline >= now:
                break
            self._drop(key)

    def _drop(self, key: K) -> tuple[float, V] | None:
        entry = self._items.pop(key, None)
        if entry is not None:
            self.nbytes -= self._size(entry[1])
        return entry
