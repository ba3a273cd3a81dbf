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
    """At most `max_size` entries, each forgotten `ttl` seconds after it was last set.

    The oldest entries are dropped first when the map is full. Thread-safe.

    Args:
        max_size: entries kept at most.
        ttl: seconds an entry lives after its last `set`.
        clock: the time source (monotonic seconds).
    """

    def __init__(
        self, max_size: int, ttl: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_size = max_size
        self.ttl = ttl
        self._clock = clock
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def set(self, key: K, value: V) -> None:
        """Store `value` under `key` (its life starts again)."""
        with self._lock:
            self._items[key] = (self._clock() + self.ttl, value)
            self._items.move_to_end(key)
            self._expire()
            while len(self._items) > self.max_size:
                self._items.popitem(last=False)

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
            entry = self._items.pop(key, None)
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
            del self._items[key]
