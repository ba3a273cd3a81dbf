"""The SQLite engine: one file on one machine, WAL mode, every append fsynced before it returns.

Writers are serialised by SQLite's write lock and the sequence number (``INTEGER PRIMARY KEY
AUTOINCREMENT``) is assigned inside the writing transaction, so sequence order is commit order.
``synchronous = FULL`` makes a commit durable (the WAL is fsynced) before `append` returns.
Replicas on one machine share the file; do not put it on a network filesystem.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from pathlib import Path

from ir3de_serve.sharedlog.base import LoggedEvent, SharedLog, SharedLogError

__all__ = ["SqliteLog"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS ir3de_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ir3de_feedback ("
    " sequence INTEGER PRIMARY KEY AUTOINCREMENT,"
    " event_key TEXT NOT NULL UNIQUE,"
    " created REAL NOT NULL,"
    " payload BLOB NOT NULL)",
)


class SqliteLog(SharedLog):
    """A shared log in the SQLite file `path` (created with its folder if missing).

    Args:
        path: the database file.
        timeout: seconds to wait for another replica's write lock.
    """

    engine = "sqlite"

    def __init__(self, path: Path, *, timeout: float = 30.0) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA:
                self._db.execute(statement)
            self._db.execute(
                "INSERT OR IGNORE INTO ir3de_meta VALUES ('id', ?)", (secrets.token_hex(16),)
            )
            self._db.execute("COMMIT")
        except sqlite3.Error as e:
            msg = f"cannot open the shared feedback log {path}: {e} ([feedback] shared_log)"
            raise SharedLogError(msg) from e
        self._id = self._meta("id") or ""

    def append(self, key: str, payload: bytes) -> int:
        try:
            row = self._db.execute(
                "INSERT INTO ir3de_feedback (event_key, created, payload) VALUES (?, ?, ?) "
                "ON CONFLICT (event_key) DO NOTHING RETURNING sequence",
                (key, time.time(), payload),
            ).fetchone()
            if row is None:  # appended before
                row = self._db.execute(
                    "SELECT sequence FROM ir3de_feedback WHERE event_key = ?", (key,)
                ).fetchone()
        except sqlite3.Error as e:
            msg = f"the shared feedback log {self.path} cannot be written: {e}"
            raise SharedLogError(msg) from e
        return int(row[0])

    def read(self, after: int, limit: int = 512) -> list[LoggedEvent]:
        rows = self._db.execute(
            "SELECT sequence, payload FROM ir3de_feedback WHERE sequence > ? "
            "ORDER BY sequence LIMIT ?",
            (after, limit),
        ).fetchall()
        return [LoggedEvent(int(s), bytes(p)) for s, p in rows]

    def head(self) -> int:
        row = self._db.execute("SELECT max(sequence) FROM ir3de_feedback").fetchone()
        return int(row[0] or 0)

    def identity(self) -> str:
        return self._id

    def bind_base(self, digest: str) -> str:
        self._db.execute("INSERT OR IGNORE INTO ir3de_meta VALUES ('base', ?)", (digest,))
        return self._meta("base") or digest

    def close(self) -> None:
        self._db.close()

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM ir3de_meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])
