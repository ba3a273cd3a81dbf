"""``[feedback] shared_log``: which log, read from the config, and opening it.

- ``"sqlite"``: an SQLite file beside the router folder, ``<router folder>.feedback.db``.
- ``"sqlite:///relative/path.db"`` (from the config's folder) or ``"sqlite:////absolute/path.db"``
  (as SQLAlchemy writes them).
- ``"postgresql://user@host:5432/database"``: a PostgreSQL database; the password comes from the
  variable named by ``shared_log_password_env``, never from the URL (a URL holding one is refused).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from ir3de_serve.sharedlog.base import SharedLog

__all__ = ["normalize_log_url", "open_shared_log"]

_SQLITE = "sqlite:///"
_POSTGRES = ("postgresql://", "postgres://")


def normalize_log_url(value: str, *, base: Path, router_path: Path) -> str:
    """The log `value` names, with an SQLite path made absolute.

    Raises:
        ValueError: not a log URL, or a PostgreSQL URL holding a password.
    """
    if value == "sqlite":
        return _SQLITE + str(router_path.with_name(router_path.name + ".feedback.db"))
    if value.startswith(_SQLITE):
        path = Path(value[len(_SQLITE) :]).expanduser()
        if not path.name:
            msg = f"{value!r} names no file: write sqlite:///<file>"
            raise ValueError(msg)
        return _SQLITE + str(path if path.is_absolute() else base / path)
    if value.startswith(_POSTGRES):
        parts = urlsplit(value)
        if parts.password is not None or "password" in parse_qs(parts.query):
            msg = (
                "the shared log URL holds a password: remove it and name the variable that "
                "holds it in feedback.shared_log_password_env"
            )
            raise ValueError(msg)
        return value
    msg = (
        f'{value!r} is not a shared log: use "sqlite", "sqlite:///<file>" or '
        '"postgresql://<user>@<host>:<port>/<database>"'
    )
    raise ValueError(msg)


def open_shared_log(url: str, *, password_env: str | None = None) -> SharedLog:
    """Open (creating if needed) the log `url` names (`normalize_log_url`'s form).

    Raises:
        SharedLogError: the log cannot be opened.
        MissingDependencyError: a PostgreSQL log without ``psycopg`` (``ir3de[postgres]``).
    """
    if url.startswith(_SQLITE):
        from ir3de_serve.sharedlog.sqlite import SqliteLog

        return SqliteLog(Path(url[len(_SQLITE) :]))
    from ir3de_serve.sharedlog.postgres import PostgresLog

    return PostgresLog(url, password_env=password_env)
