"""`JsonLog`: an append-only JSONL log that rotates at a size cap and follows logrotate.

At `max_bytes` the file is renamed to ``<name>.1`` (replacing an older one) and a new file is
started. When the path no longer names the open file (logrotate moved it and, with ``create``,
made a new one; or it was deleted), the next line reopens the path instead of writing into
the moved file.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import IO, Any

__all__ = ["JsonLog"]


class JsonLog:
    """Append JSON lines to `path`, rotating at `max_bytes`. Thread-safe.

    Args:
        path: the log file (its folder is created).
        max_bytes: the size at which the file is rotated to ``<path>.1``.
    """

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = self._open()

    def write(self, line: dict[str, Any]) -> None:
        """Append one JSON line (flushed)."""
        text = json.dumps(line, ensure_ascii=False) + "\n"
        with self._lock:
            if self._moved():
                self._file.close()
                self._file = self._open()
            if self._file.tell() and self._file.tell() + len(text.encode()) > self.max_bytes:
                self._rotate()
            self._file.write(text)
            self._file.flush()

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._file.close()

    def _open(self) -> IO[str]:
        return self.path.open("a", encoding="utf-8")

    def _moved(self) -> bool:
        try:
            now = os.stat(self.path)
        except FileNotFoundError:
            return True
        mine = os.fstat(self._file.fileno())
        return (now.st_dev, now.st_ino) != (mine.st_dev, mine.st_ino)

    def _rotate(self) -> None:
        self._file.close()
        os.replace(self.path, self.path.with_name(self.path.name + ".1"))
        self._file = self._open()
