"""A durable feedback log shared by gateway replicas, so that every replica folds every event.

A replica appends each accepted event to the log (committed durably, numbered by the log) before
it answers the client, and a folding thread in every replica folds the log's events in sequence
order, saving its router together with the last number folded. Engines: SQLite (one machine,
the default) and PostgreSQL (``pip install 'ir3de[postgres]'``). See docs/serving.md#replicas.
"""

from ir3de_serve.sharedlog.base import LoggedEvent, SharedLog, SharedLogError
from ir3de_serve.sharedlog.cursor import (
    CURSOR_FILE,
    read_cursor,
    read_switch_state,
    statistics_digest,
    write_cursor,
)
from ir3de_serve.sharedlog.events import FeedbackEvent, decode_event, encode_event
from ir3de_serve.sharedlog.urls import normalize_log_url, open_shared_log

__all__ = [
    "CURSOR_FILE",
    "FeedbackEvent",
    "LoggedEvent",
    "SharedLog",
    "SharedLogError",
    "decode_event",
    "encode_event",
    "normalize_log_url",
    "open_shared_log",
    "read_cursor",
    "read_switch_state",
    "statistics_digest",
    "write_cursor",
]
