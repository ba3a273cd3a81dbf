"""Reading data files as text: the one BOM rule, UTF-8 errors and JSON errors named by file:line.

Every reader (canonical JSONL, in text or by byte offset; RouterDC JSON; RouterBench CSV; prompt
files of ``ir3de route``) goes through this module, so they all accept and refuse the same bytes:

- a UTF-8 byte-order mark at the very start of a file is skipped (anywhere else it is an error);
- the text must be UTF-8: a byte that is not names the file, line and column, and the fix;
- lines end at ``\\n`` (a ``\\r`` before it is part of the line ending);
- a JSON error names the file, line and column.

The count of missing scores each loader warns about is here too (`count_missing`, `warn_missing`).
"""

from __future__ import annotations

import codecs
import json
import math
import reprlib
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ir3de_core.exceptions import DataError

__all__ = [
    "BOM",
    "DataError",
    "count_missing",
    "decode_lines",
    "iter_lines",
    "parse_json",
    "read_text",
    "short",
    "warn_missing",
]

BOM = codecs.BOM_UTF8
_UTF8_HINT = "save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8 in > out`)"
_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxother = 60


def short(value: object) -> str:
    """A repr of `value` cut to a readable length, for error messages."""
    return _repr.repr(value)


def decode_lines(
    handle: Iterable[bytes], name: str, *, offset: int = 0, line: int = 0
) -> Iterator[tuple[int, int, str]]:
    """Decode the lines of a binary stream positioned at byte `offset`, after `line` lines.

    Args:
        handle: the stream (its lines split at ``\\n``, line endings kept).
        name: the file's name, for messages.
        offset: bytes of the stream already consumed (0: at the start, where a BOM is skipped).
        line: lines already consumed.

    Yields:
        ``(line number, byte offset just after the line, text of the line)``.

    Raises:
        DataError: a line is not UTF-8.
    """
    start = offset == 0
    for raw in handle:
        offset += len(raw)
        line += 1
        if start:
            start = False
            if raw.startswith(BOM):
                raw = raw[len(BOM) :]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise _not_utf8(name, line, raw, e.start) from None
        yield line, offset, text


def iter_lines(path: Path, *, offset: int = 0, line: int = 0) -> Iterator[tuple[int, int, str]]:
    """`decode_lines` of the file `path`, from byte `offset` (after `line` lines)."""
    with path.open("rb") as handle:
        handle.seek(offset)
        yield from decode_lines(handle, str(path), offset=offset, line=line)


def read_text(path: Path) -> str:
    """The whole text of `path` (a leading BOM skipped); `DataError` if it is not UTF-8."""
    data = path.read_bytes()
    if data.startswith(BOM):
        data = data[len(BOM) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        begin = data.rfind(b"\n", 0, e.start) + 1
        end = data.find(b"\n", e.start)
        raw = data[begin : len(data) if end < 0 else end]
        line = data.count(b"\n", 0, begin) + 1
        raise _not_utf8(str(path), line, raw, e.start - begin) from None


def parse_json(text: str, name: str, line: int | None = None) -> Any:
    """Parse JSON `text` of file `name` (its line `line`, or the whole file if None).

    Any failure is a `DataError` naming the file, the line and the column, including Python's
    own limits (integers of more than 4,300 digits, nesting deeper than the recursion limit).
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        where = f"{name}:{e.lineno if line is None else line}"
        msg = f"{where}: not valid JSON ({e.msg} at column {e.colno}); fix or remove this line"
        raise DataError(msg) from None
    except (ValueError, RecursionError) as e:  # huge integers, deep nesting
        reason = "nested too deeply" if isinstance(e, RecursionError) else str(e).split(";")[0]
        where = name if line is None else f"{name}:{line}"
        msg = f"{where}: cannot read this JSON ({reason}); fix or remove this line"
        raise DataError(msg) from None


def _not_utf8(name: str, line: int, raw: bytes, position: int) -> DataError:
    """The error for line `line` of `name` (bytes `raw`), not UTF-8 from byte `position` on."""
    column = len(raw[:position].decode("utf-8", errors="replace")) + 1
    msg = (
        f"{name}:{line}: not UTF-8 text (byte 0x{raw[position : position + 1].hex()} at column "
        f"{column}); {_UTF8_HINT}"
    )
    return DataError(msg)


def count_missing(scores: object) -> int:
    """How many of the raw `scores` (an object ``{expert: number}``) are null or NaN."""
    if not isinstance(scores, dict):
        return 0
    return sum(1 for v in scores.values() if v is None or (isinstance(v, float) and math.isnan(v)))


def warn_missing(path: Path, missing: int, dropped: int) -> None:
    """Warn that `missing` scores of `path` were left out and `dropped` rows dropped, if any."""
    if missing or dropped:
        message = f"{path}: {missing} missing scores left out (not counted as zero)"
        if dropped:
            message += f"; {dropped} incomplete rows dropped"
        warnings.warn(message, UserWarning, stacklevel=3)
