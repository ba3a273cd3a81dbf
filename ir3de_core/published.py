"""A router's fitted state, published in one assignment so threads route while one writes.

Writers (fits, updates, saves) are serialised by a per-router lock; readers take ``state_``
once and never wait.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ir3de_core.attributes import FittedAttributes
from ir3de_core.decide.state import RoutedState
from ir3de_core.ridge.online import RankOneRidge

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["PublishedState"]

_LOCKS = threading.Lock()  # guards the lazy creation of each router's writer lock


class PublishedState(FittedAttributes):
    """``state_`` (one immutable `RoutedState`), its writer lock and the online updater."""

    state_: RoutedState
    _online: RankOneRidge | None = None  # rank-one updater of partial_fit, while it is valid

    def __copy__(self) -> Self:
        """A shallow copy with its own lock that shares nothing `partial_fit` updates in place."""
        out = self.__class__.__new__(self.__class__)
        out.__dict__.update(self.__getstate__())
        if self._online is not None:
            state = self.state_
            out.state_ = state.replace(statistics=state.statistics.copy())
        return out

    def __getstate__(self) -> dict[str, Any]:
        """Pickling and copying leave out the writer lock and the online updater."""
        return {k: v for k, v in self.__dict__.items() if k not in ("_lock", "_online")}

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Serialise writers (fits, updates, saves); readers never wait."""
        lock = self.__dict__.get("_lock")
        if lock is None:
            with _LOCKS:
                lock = self.__dict__.setdefault("_lock", threading.RLock())
        with lock:
            yield

    def _publish(self, state: RoutedState, online: RankOneRidge | None = None) -> None:
        """Make `state` the routed state, in one assignment."""
        self._online = online
        self.state_ = state
