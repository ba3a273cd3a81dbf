"""Reading RouterBench CSV: a prompt column, ``eval_name``, one score column per model and
``<model>|total_cost`` columns. Empty cells are missing scores, never zeros.

Rows are read from `files.iter_lines`, so the BOM rule and the UTF-8 errors are those of every
other reader, and each error names the file, the line the row starts on, and the column.
"""

from __future__ import annotations

import ast
import csv
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

from ir3de_core.data.files import DataError, iter_lines, short, warn_missing
from ir3de_core.data.records import Record

__all__ = ["load_routerbench", "routerbench_text"]

_NOT_MODELS = frozenset({"sample_id", "prompt", "eval_name", "oracle_model_to_route_to"})


def load_routerbench(path: Path, *, drop_incomplete: bool = False) -> Iterator[Record]:
    """Stream a RouterBench CSV: prompt (a Python-style list of turns), ``eval_name``, one score
    column per model, ``<model>|total_cost`` per model. Empty cells are missing, not zero.

    Raises:
        DataError: the file is not UTF-8, not CSV, lacks the columns, or a cell is not a number;
            the message names ``file:line`` and the column.
    """
    rows = _rows(path)
    header = _header(path, rows)
    models = _models(header)
    missing = dropped = 0
    for line, cells in rows:
        if len(cells) != len(header):
            msg = (
                f"{path}:{line}: the row has {len(cells)} cells but the header has "
                f"{len(header)} columns; quote cells that hold commas, quotes or line breaks"
            )
            raise DataError(msg)
        record = _record(path, line, dict(zip(header, cells, strict=True)), models)
        missing += len(models) - len(record.scores)
        if drop_incomplete and len(record.scores) < len(models):
            dropped += 1
            continue
        yield record
    warn_missing(path, missing, dropped)


def _rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Non-blank CSV rows with the line each starts on; a CSV syntax error is a `DataError`."""
    csv.field_size_limit(sys.maxsize)
    reader = csv.reader(text for _, _, text in iter_lines(path))
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            msg = f"{path}:{reader.line_num}: not a valid CSV row ({e}); check its quotes"
            raise DataError(msg) from None
        if any(cell.strip() for cell in cells):
            yield start, cells


def _header(path: Path, rows: Iterator[tuple[int, list[str]]]) -> list[str]:
    """The header row: unique names, a 'prompt' column and at least one model column."""
    line, header = next(rows, (1, []))
    seen: set[str] = set()
    for name in header:
        if name in seen and name.strip():
            msg = f"{path}:{line}: column {name!r} appears twice in the header; rename one"
            raise DataError(msg)
        seen.add(name)
    if "prompt" not in header or not _models(header):
        msg = (
            f"{path}:{line}: not a RouterBench CSV: the header needs a 'prompt' column and one "
            f"score column per model, got {short(header)}"
        )
        raise DataError(msg)
    return header


def _models(header: list[str]) -> list[str]:
    """The score columns of `header`: not metadata, not ``model|field``, not a pandas index."""
    return [  # the unnamed first column is a pandas index, not a model
        c
        for c in header
        if "|" not in c and c not in _NOT_MODELS and c.strip() and not c.startswith("Unnamed")
    ]


def _record(path: Path, line: int, row: dict[str, str], models: list[str]) -> Record:
    scores = {m: _number(path, line, m, row[m], "score") for m in models}
    costs = {m: _number(path, line, f"{m}|total_cost", row.get(f"{m}|total_cost"), "cost")
             for m in models}  # fmt: skip
    task = (row.get("eval_name") or "").strip() or None
    return Record.from_dict(
        {"prompt": routerbench_text(row["prompt"]), "scores": scores, "costs": costs,
         "domain": task, "task": task},
        where=f"{path}:{line}",
    )  # fmt: skip


def _number(path: Path, line: int, column: str, cell: str | None, what: str) -> float | None:
    """A cell's number; None when the cell is empty (missing) or absent."""
    text = (cell or "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        msg = (
            f"{path}:{line}: column {column!r}: {short(text)} is not a number; write a number, "
            f"or leave the cell empty for a missing {what}"
        )
        raise DataError(msg) from None


def routerbench_text(raw: str) -> str:
    """RouterBench stores a prompt (and a response) as the repr of a list of turns; join them."""
    text = raw.strip()
    if text.startswith("["):
        try:
            with warnings.catch_warnings():  # e.g. "invalid escape sequence" in a turn
                warnings.simplefilter("ignore", SyntaxWarning)
                turns = ast.literal_eval(text)  # literals only: never executes code
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return raw
        if isinstance(turns, list) and all(isinstance(t, str) for t in turns):
            return "\n".join(turns)
    return raw
