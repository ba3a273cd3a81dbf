"""Loading routing data: canonical JSONL, RouterDC JSON and RouterBench CSV.

Missing scores are never turned into zeros: they are left out of the record (and counted in a
warning), or the whole row is dropped (counted) when ``drop_incomplete`` is set.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal, NamedTuple

from ir3de_core.data.files import (
    DataError,
    count_missing,
    iter_lines,
    parse_json,
    read_text,
    short,
    warn_missing,
)
from ir3de_core.data.records import Record
from ir3de_core.data.routerbench import load_routerbench, routerbench_text

__all__ = [
    "MULTIPLE_CHOICE_TASKS",
    "DataFormat",
    "JsonlLine",
    "detect_format",
    "expand_paths",
    "iter_jsonl",
    "iter_records",
    "load_records",
    "load_routerbench",
    "load_routerdc",
    "read_jsonl",
    "routerbench_text",
]

DataFormat = Literal["auto", "jsonl", "routerdc", "routerbench"]
MULTIPLE_CHOICE_TASKS = ("mmlu", "cmmlu", "arc", "ceval", "winogrande")
_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv")
_JSON_TYPES = {dict: "object", list: "list", str: "string", int: "number", float: "number",
               bool: "boolean", type(None): "null"}  # fmt: skip


def expand_paths(paths: Sequence[str | Path], split: str | None = None) -> list[Path]:
    """Files named by `paths`; a directory stands for its data files (``*_<split>.*`` if given)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            pattern = f"*_{split}.*" if split else "*"
            found = sorted(p for p in path.glob(pattern) if p.suffix in _SUFFIXES and p.is_file())
            if not found:
                msg = f"no data files matching {pattern!r} in {path}"
                raise FileNotFoundError(msg)
            files.extend(found)
        elif path.is_file():
            files.append(path)
        elif path.exists():
            msg = f"data path {path} is neither a file nor a directory"
            raise DataError(msg)
        else:
            msg = f"data path {path} does not exist"
            raise FileNotFoundError(msg)
    return files


def detect_format(path: Path) -> DataFormat:
    """Guess a file's format from its suffix."""
    if path.suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if path.suffix == ".csv":
        return "routerbench"
    if path.suffix == ".json":
        return "routerdc"
    msg = f"cannot tell the format of {path}; pass --format jsonl|routerdc|routerbench"
    raise ValueError(msg)


def load_records(
    paths: Sequence[str | Path],
    *,
    format: DataFormat = "auto",  # the CLI's word
    split: str | None = None,
    drop_incomplete: bool = False,
) -> list[Record]:
    """Load and concatenate records from files or directories."""
    records: list[Record] = []
    for path in expand_paths(paths, split):
        records.extend(iter_records(path, format=format, drop_incomplete=drop_incomplete))
    if not records:
        msg = f"no records found in {[str(p) for p in paths]}"
        raise ValueError(msg)
    return records


def iter_records(
    path: Path, *, format: DataFormat = "auto", drop_incomplete: bool = False
) -> Iterator[Record]:
    """Records of one file, streamed where the format allows (JSONL, CSV)."""
    kind = detect_format(path) if format == "auto" else format
    if kind == "jsonl":
        yield from iter_jsonl(path, drop_incomplete=drop_incomplete)
    elif kind == "routerdc":
        yield from load_routerdc(path)
    elif kind == "routerbench":
        yield from load_routerbench(path, drop_incomplete=drop_incomplete)
    else:
        msg = f"unknown data format {kind!r}; use jsonl, routerdc or routerbench"
        raise ValueError(msg)


class JsonlLine(NamedTuple):
    """One record of a JSONL file, where it ends, and how many of its scores were missing."""

    record: Record
    missing: int
    offset: int
    line: int


def read_jsonl(path: Path, *, offset: int = 0, line: int = 0) -> Iterator[JsonlLine]:
    """The records of canonical JSONL `path`, from byte `offset` (after `line` lines) on.

    The one JSONL reader: `iter_jsonl` and the resumable streaming fit both use it.

    Raises:
        DataError: a line is not UTF-8, not JSON, not an object, or not a valid record; the
            message names ``file:line`` and the field.
    """
    for number, end, text in iter_lines(path, offset=offset, line=line):
        if not text.strip():
            continue
        obj = parse_json(text.rstrip("\r\n"), str(path), number)
        if not isinstance(obj, dict):
            msg = (
                f'{path}:{number}: expected a JSON object such as {{"prompt": "..."}}, '
                f"got a JSON {_JSON_TYPES.get(type(obj), type(obj).__name__)}"
            )
            raise DataError(msg)
        record = Record.from_dict(obj, where=f"{path}:{number}")
        yield JsonlLine(record, count_missing(obj.get("scores")), end, number)


def iter_jsonl(path: Path, *, drop_incomplete: bool = False) -> Iterator[Record]:
    """Stream canonical JSONL: one object per line (``prompt``, ``scores``, ``costs``, ...)."""
    missing = dropped = 0
    experts: set[str] = set()
    pending: list[Record] = []  # only used when dropping incomplete rows needs all expert names
    for item in read_jsonl(path):
        missing += item.missing
        experts.update(item.record.scores)
        if drop_incomplete:
            pending.append(item.record)
        else:
            yield item.record
    for record in pending:
        if set(record.scores) >= experts:
            yield record
        else:
            dropped += 1
    warn_missing(path, missing, dropped)


def load_routerdc(path: Path, *, task: str | None = None) -> list[Record]:
    """Read a RouterDC file ``<task>_<split>.json``: a list of ``{"question", "scores"}``.

    RouterDC's scoring rule lives here: on multiple-choice tasks (mmlu, cmmlu, arc_*, ceval) a
    score is the probability of the right answer when the model answered right and 0 otherwise,
    so the query counts as correct when the score is > 0: such scores become 1.0 or 0.0. On
    generation tasks (gsm8k, humaneval, mbpp, MATH) the score is the fraction of passing samples
    and is kept as is.

    Raises:
        DataError: the file is not UTF-8 JSON, not a list, or an item is malformed; the
            message names the file and the item (``file[i]``) and the field.
    """
    name = task or path.stem.rsplit("_", 1)[0]
    multiple_choice = name.startswith(MULTIPLE_CHOICE_TASKS)
    items = parse_json(read_text(path), str(path))
    if not isinstance(items, list):
        msg = (
            f"{path}: expected a RouterDC JSON list of {{'question', 'scores'}} objects, "
            f"got a JSON {_JSON_TYPES.get(type(items), type(items).__name__)}"
        )
        raise DataError(msg)
    records, missing = [], 0
    for i, item in enumerate(items):
        where = f"{path}[{i}]"
        if not isinstance(item, dict) or "question" not in item or "scores" not in item:
            msg = f"{where}: expected an object with 'question' and 'scores', got {short(item)}"
            raise DataError(msg)
        if not isinstance(item["question"], str) or not item["question"].strip():
            msg = f"{where}: 'question' must be a non-empty string, got {short(item['question'])}"
            raise DataError(msg)
        missing += count_missing(item["scores"])
        record = Record.from_dict(
            {"prompt": item["question"], "scores": item["scores"], "domain": name, "task": name},
            where=where,
        )
        if multiple_choice:
            scores = {e: 1.0 if s > 0 else 0.0 for e, s in record.scores.items()}
            record = Record(record.prompt, scores, record.costs, record.domain, record.task)
        records.append(record)
    warn_missing(path, missing, 0)
    return records
