"""A router's fitted state, published in one assignment so threads route while one writes.

Writers (fits, updates, saves) are serialised by a per-router lock; readers take ``state_``
once and never wait.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ir3de_core.attributes import FittedAttributes
from ir3de_core.decide.state import RoutedState
from ir3de_core.fit.online_alpha import FeedbackSample
from ir3de_core.ridge.online import RankOneRidge

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["PublishedState"]

_LOCKS = threading.Lock()  # guards the lazy creation of each router's writer lock
_UNSAVED = ("_lock", "_online", "_feedback")


class PublishedState(FittedAttributes):
    """``state_`` (one immutable `RoutedState`), its writer lock and the online updater."""

    state_: RoutedState
    _online: RankOneRidge | None = None  # rank-one updater of partial_fit, while it is valid
    _feedback: FeedbackSample | None = None  # feedback rows for choosing α again (online_alpha)

    def __copy__(self) -> Self:
        """A shallow copy with its own lock that shares nothing `partial_fit` updates in place."""
        out = self.__class__.__new__(self.__class__)
        out.__dict__.update(self.__getstate__())
        if self._online is not None:
            state = self.state_
            out.state_ = state.replace(statistics=state.statistics.copy())
        if self.__dict__.get("_feedback") is not None:
            out._feedback = copy.deepcopy(self._feedback)
        return out

    def __getstate__(self) -> dict[str, Any]:
        """Pickling and copying leave out the writer lock, the online updater and the feedback
        rows kept for choosing α (a loaded router starts them again)."""
        return {k: v for k, v in self.__dict__.items() if k not in _UNSAVED}

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
        """Make `state` the routed state, in one assignment (a state not reached by rank-one
        updates also drops the feedback rows kept for choosing α again)."""
        if online is None:
            self._feedback = None
        self._online = online
        self.state_ = state
