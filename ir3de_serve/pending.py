"""`SharedPending`: completions awaiting feedback in one SQLite file, seen by every worker.

With ``--workers N`` the feedback for a completion may reach another worker than the one that
answered it; the answered completion (its routed text, expert and rule) is therefore written to
a SQLite table that every worker of the gateway reads. It is a cache of the feedback window, not
a durable log (``synchronous=OFF``, a temporary file removed with the gateway): the shared
feedback log is what makes events durable. Same interface as the in-memory map it replaces.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from ir3de_serve.completion import Completion

__all__ = ["SharedPending", "SharedScored"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS pending (id TEXT PRIMARY KEY, text TEXT, expert TEXT, "
    "rule TEXT, expires REAL)",
    "CREATE TABLE IF NOT EXISTS scored (id TEXT PRIMARY KEY, expires REAL)",
)
_PURGE_EVERY = 1000


class _Table:
    """One worker's connection to the shared file (thread-safe)."""

    def __init__(self, path: Path, window: float) -> None:
        self.window = window
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=OFF")
        for statement in _SCHEMA:
            self._db.execute(statement)
        self._writes = 0

    def run(self, sql: str, args: tuple[object, ...]) -> list[tuple[object, ...]]:
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
            self._writes += 1
            if self._writes % _PURGE_EVERY == 0:
                now = time.time()
                self._db.execute("DELETE FROM pending WHERE expires < ?", (now,))
                self._db.execute("DELETE FROM scored WHERE expires < ?", (now,))
            return rows


class SharedPending:
    """Completions awaiting feedback (``set``/``pop``/``len``), for `window` seconds.

    Args:
        path: the SQLite file (shared by the workers).
        window: how long a completion awaits feedback, seconds.
    """

    def __init__(self, path: Path, window: float) -> None:
        self._table = _Table(path, window)
        self.nbytes = 0  # on disk, not in this process's memory

    def set(self, key: str, value: Completion) -> None:
        expires = time.time() + self._table.window
        self._table.run(
            "INSERT OR REPLACE INTO pending VALUES (?, ?, ?, ?, ?)",
            (key, value.text, value.expert, value.rule, expires),
        )

    def pop(self, key: str) -> Completion | None:
        rows = self._table.run(
            "DELETE FROM pending WHERE id = ? AND expires >= ? RETURNING text, expert, rule",
            (key, time.time()),
        )
        if not rows:
            return None
        text, expert, rule = rows[0]
        return Completion(str(text), str(expert), str(rule))

    def __len__(self) -> int:
        rows = self._table.run("SELECT count(*) FROM pending WHERE expires >= ?", (time.time(),))
        return int(rows[0][0])  # type: ignore[call-overload]

    @property
    def table(self) -> _Table:
        return self._table


class SharedScored:
    """Completions already scored (``set``/``get``/``pop``), in the same file."""

    def __init__(self, pending: SharedPending) -> None:
        self._table = pending.table

    def set(self, key: str, value: bool) -> None:
        expires = time.time() + self._table.window
        self._table.run("INSERT OR REPLACE INTO scored VALUES (?, ?)", (key, expires))

    def get(self, key: str) -> bool | None:
        rows = self._table.run(
            "SELECT 1 FROM scored WHERE id = ? AND expires >= ?", (key, time.time())
        )
        return True if rows else None

    def pop(self, key: str) -> bool | None:
        rows = self._table.run("DELETE FROM scored WHERE id = ? RETURNING 1", (key,))
        return True if rows else None
