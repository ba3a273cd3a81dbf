"""The shared feedback log's contract: durable appends numbered by the log, read in order.

Every engine gives the same guarantees (see docs/serving.md#replicas):

- `append` returns only after the event is committed durably, with a sequence number the log
  assigned; numbers increase in commit order, so a reader that has seen ``n`` never later sees
  a number ≤ ``n`` appear (gaps may exist and are skipped).
- `read` returns committed events after a sequence number, in sequence order.
- The log has an identity (a random id made when it was created) and the digest of the router
  it started from, recorded by the first replica; a replica started from another router, or a
  saved state folded from another log, is refused.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from ir3de_core.exceptions import IR3DEError

__all__ = ["LoggedEvent", "SharedLog", "SharedLogError"]


class SharedLogError(IR3DEError, RuntimeError):
    """The shared feedback log cannot be used as configured; the message names the fix."""


@dataclass(frozen=True)
class LoggedEvent:
    """One committed event.

    Attributes:
        sequence: the number the log gave it (increasing in commit order).
        payload: the event's bytes, as appended (`ir3de_serve.sharedlog.events`).
    """

    sequence: int
    payload: bytes


class SharedLog(abc.ABC):
    """A durable, ordered log of feedback events shared by replicas.

    An instance is used by one thread at a time (each replica opens one for appends and one
    for its folding thread).
    """

    #: the engine's name, for messages and metrics ("sqlite", "postgresql").
    engine: str = ""

    @abc.abstractmethod
    def append(self, key: str, payload: bytes) -> int:
        """Commit `payload` durably under the unique `key` (the completion's id); returns its
        sequence number. Appending a key again appends nothing and returns the first number
        (a client that resends after a lost answer is not counted twice).

        Raises:
            SharedLogError: the log cannot be written.
        """

    @abc.abstractmethod
    def read(self, after: int, limit: int = 512) -> list[LoggedEvent]:
        """Up to `limit` committed events with a sequence number > `after`, in order."""

    @abc.abstractmethod
    def head(self) -> int:
        """The largest committed sequence number (0: empty)."""

    @abc.abstractmethod
    def identity(self) -> str:
        """The log's id (made once, when the log was created)."""

    @abc.abstractmethod
    def bind_base(self, digest: str) -> str:
        """Record `digest` as the base router's when none is yet; returns the recorded one."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection."""

    def check_base(self, digest: str) -> None:
        """Bind `digest`, or refuse a replica whose base router is not the log's.

        Raises:
            SharedLogError: the log was started from another router.
        """
        recorded = self.bind_base(digest)
        if recorded != digest:
            msg = (
                f"the shared feedback log ({self.engine}, id {self.identity()}) was started from "
                f"another router (statistics digest {recorded[:12]}…, this one {digest[:12]}…): "
                "start every replica from the same router file, or give this router a new "
                "log ([feedback] shared_log)"
            )
            raise SharedLogError(msg)
