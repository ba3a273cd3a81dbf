"""The PostgreSQL engine (`psycopg` 3): replicas on several machines share one database.

A sequence number from ``GENERATED ... AS IDENTITY`` is taken when a row is inserted, not when it
commits, so two concurrent appends could commit out of order and a reader could skip the
earlier one. Each append therefore takes a transaction-level advisory lock before inserting:
appends commit one at a time, in sequence order (a rolled-back append leaves a gap, never a
late number). The commit is durable (``synchronous_commit = on``) before `append` returns.
The password is read from the environment variable the config names, never from the config.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from typing import Any

from ir3de_core._optional import require
from ir3de_serve.sharedlog.base import LoggedEvent, SharedLog, SharedLogError

__all__ = ["PostgresLog"]

_LOCK = 0x1E3DE  # the advisory lock key that orders appends
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS ir3de_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ir3de_feedback ("
    " sequence BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " event_key TEXT NOT NULL UNIQUE,"
    " created TIMESTAMPTZ NOT NULL DEFAULT now(),"
    " payload BYTEA NOT NULL)",
)


class PostgresLog(SharedLog):
    """A shared log in the PostgreSQL database `url` names (tables created if missing).

    Args:
        url: ``postgresql://user@host:port/database`` (no password in it).
        password_env: the variable holding the password (None: none, or libpq's own means
            such as ``~/.pgpass``).
        connect_timeout: seconds to wait for the server.
    """

    engine = "postgresql"

    def __init__(
        self, url: str, *, password_env: str | None = None, connect_timeout: float = 10.0
    ) -> None:
        self._psycopg = psycopg = require("psycopg", "postgres")
        self.url = url
        self._errors: Any = psycopg.Error
        self._options: dict[str, Any] = {"connect_timeout": max(1, round(connect_timeout))}
        if password_env is not None:
            self._options["password"] = os.environ[password_env]
        self._db: Any = None
        try:
            db = self._connect()
            with db.transaction():
                db.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
                for statement in _SCHEMA:
                    db.execute(statement)
                db.execute(
                    "INSERT INTO ir3de_meta VALUES ('id', %s) ON CONFLICT DO NOTHING",
                    (secrets.token_hex(16),),
                )
        except psycopg.Error as e:
            msg = f"cannot open the shared feedback log at {self._where()}: {e} ([feedback] shared_log)"
            raise SharedLogError(msg) from e
        self._id = self._meta("id") or ""

    def append(self, key: str, payload: bytes) -> int:
        try:
            db = self._connect()
            with db.transaction():
                db.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
                row = db.execute(
                    "INSERT INTO ir3de_feedback (event_key, payload) VALUES (%s, %s) "
                    "ON CONFLICT (event_key) DO NOTHING RETURNING sequence",
                    (key, payload),
                ).fetchone()
                if row is None:  # appended before
                    row = db.execute(
                        "SELECT sequence FROM ir3de_feedback WHERE event_key = %s", (key,)
                    ).fetchone()
        except self._errors as e:
            self._drop()
            msg = f"the shared feedback log at {self._where()} cannot be written: {e}"
            raise SharedLogError(msg) from e
        return int(row[0])

    def read(self, after: int, limit: int = 512) -> list[LoggedEvent]:
        try:
            rows = (
                self._connect()
                .execute(
                    "SELECT sequence, payload FROM ir3de_feedback WHERE sequence > %s "
                    "ORDER BY sequence LIMIT %s",
                    (after, limit),
                )
                .fetchall()
            )
        except self._errors as e:
            self._drop()
            msg = f"the shared feedback log at {self._where()} cannot be read: {e}"
            raise SharedLogError(msg) from e
        return [LoggedEvent(int(s), bytes(p)) for s, p in rows]

    def head(self) -> int:
        row = self._connect().execute("SELECT max(sequence) FROM ir3de_feedback").fetchone()
        return int(row[0] or 0) if row is not None else 0

    def identity(self) -> str:
        return self._id

    def bind_base(self, digest: str) -> str:
        self._connect().execute(
            "INSERT INTO ir3de_meta VALUES ('base', %s) ON CONFLICT DO NOTHING", (digest,)
        )
        return self._meta("base") or digest

    def close(self) -> None:
        self._drop()

    def _connect(self) -> Any:
        """The connection, made again after a failure (the next call retries)."""
        if self._db is None or self._db.closed:
            self._db = self._psycopg.connect(self.url, autocommit=True, **self._options)
            self._db.execute("SET synchronous_commit = on")
        return self._db

    def _drop(self) -> None:
        if self._db is not None:
            with contextlib.suppress(self._errors):
                self._db.close()
        self._db = None

    def _meta(self, key: str) -> str | None:
        row = (
            self._connect()
            .execute("SELECT value FROM ir3de_meta WHERE key = %s", (key,))
            .fetchone()
        )
        return None if row is None else str(row[0])

    def _where(self) -> str:
        """The URL without credentials (for messages)."""
        rest = self.url.split("://", 1)[-1]
        return rest.rsplit("@", 1)[-1]
