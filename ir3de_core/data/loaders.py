"""Loading routing data: canonical JSONL, RouterDC JSON and RouterBench CSV.

Missing scores are never turned into zeros: they are left out of the record (and counted in a
warning), or the whole row is dropped (counted) when ``drop_incomplete`` is set.
"""

from __future__ import annotations

import ast
import csv
import json
import math
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

from ir3de_core.data.records import Record

__all__ = [
    "MULTIPLE_CHOICE_TASKS",
    "DataFormat",
    "expand_paths",
    "iter_jsonl",
    "iter_records",
    "load_records",
    "load_routerbench",
    "load_routerdc",
    "routerbench_text",
]

DataFormat = Literal["auto", "jsonl", "routerdc", "routerbench"]
MULTIPLE_CHOICE_TASKS = ("mmlu", "cmmlu", "arc", "ceval", "winogrande")
_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv")


def expand_paths(paths: Sequence[str | Path], split: str | None = None) -> list[Path]:
    """Files named by `paths`; a directory stands for its data files (``*_<split>.*`` if given)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            pattern = f"*_{split}.*" if split else "*"
            found = sorted(p for p in path.glob(pattern) if p.suffix in _SUFFIXES)
            if not found:
                msg = f"no data files matching {pattern!r} in {path}"
                raise FileNotFoundError(msg)
            files.extend(found)
        elif path.is_file():
            files.append(path)
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


def iter_jsonl(path: Path, *, drop_incomplete: bool = False) -> Iterator[Record]:
    """Stream canonical JSONL: one object per line (``prompt``, ``scores``, ``costs``, ...)."""
    missing = dropped = 0
    experts: set[str] = set()
    pending: list[Record] = []  # only used when dropping incomplete rows needs all expert names
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                msg = f"{path}:{number}: not valid JSON ({e.msg})"
                raise ValueError(msg) from e
            if not isinstance(obj, dict):
                msg = f"{path}:{number}: expected a JSON object, got {type(obj).__name__}"
                raise ValueError(msg)
            missing += _count_missing(obj.get("scores"))
            record = Record.from_dict(obj, where=f"{path}:{number}")
            experts.update(record.scores)
            if drop_incomplete:
                pending.append(record)
            else:
                yield record
    for record in pending:
        if set(record.scores) >= experts:
            yield record
        else:
            dropped += 1
    _warn(path, missing, dropped)


def load_routerdc(path: Path, *, task: str | None = None) -> list[Record]:
    """Read a RouterDC file ``<task>_<split>.json``: a list of ``{"question", "scores"}``.

    RouterDC's scoring rule lives here: on multiple-choice tasks (mmlu, cmmlu, arc_*, ceval) a
    score is the probability of the right answer when the model answered right and 0 otherwise,
    so the query counts as correct when the score is > 0: such scores become 1.0 or 0.0. On
    generation tasks (gsm8k, humaneval, mbpp, MATH) the score is the fraction of passing samples
    and is kept as is.
    """
    name = task or path.stem.rsplit("_", 1)[0]
    multiple_choice = name.startswith(MULTIPLE_CHOICE_TASKS)
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        msg = f"{path}: not valid JSON ({e.msg}); expected a RouterDC list of objects"
        raise ValueError(msg) from e
    if not isinstance(items, list):
        msg = f"{path}: expected a JSON list of {{'question', 'scores'}} objects"
        raise ValueError(msg)
    records, missing = [], 0
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "question" not in item or "scores" not in item:
            msg = f"{path}[{i}]: expected an object with 'question' and 'scores'"
            raise ValueError(msg)
        missing += _count_missing(item["scores"])
        record = Record.from_dict(
            {"prompt": item["question"], "scores": item["scores"], "domain": name, "task": name},
            where=f"{path}[{i}]",
        )
        if multiple_choice:
            scores = {e: 1.0 if s > 0 else 0.0 for e, s in record.scores.items()}
            record = Record(record.prompt, scores, record.costs, record.domain, record.task)
        records.append(record)
    _warn(path, missing, 0)
    return records


def load_routerbench(path: Path, *, drop_incomplete: bool = False) -> Iterator[Record]:
    """Stream a RouterBench CSV: prompt (a Python-style list of turns), ``eval_name``, one score
    column per model, ``<model>|total_cost`` per model. Empty cells are missing, not zero."""
    csv.field_size_limit(sys.maxsize)
    missing = dropped = 0
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        skip = {"sample_id", "prompt", "eval_name", "oracle_model_to_route_to"}
        models = [  # the unnamed first column is a pandas index, not a model
            c
            for c in columns
            if "|" not in c and c not in skip and c.strip() and not c.startswith("Unnamed")
        ]
        if "prompt" not in columns or not models:
            msg = f"{path}: not a RouterBench CSV (needs 'prompt' and model score columns)"
            raise ValueError(msg)
        for number, row in enumerate(reader, start=2):
            scores = {m: float(row[m]) for m in models if (row.get(m) or "").strip()}
            costs = {
                m: float(c) for m in models if (c := (row.get(f"{m}|total_cost") or "").strip())
            }
            missing += len(models) - len(scores)
            if drop_incomplete and len(scores) < len(models):
                dropped += 1
                continue
            task = (row.get("eval_name") or "").strip() or None
            yield Record.from_dict(
                {"prompt": routerbench_text(row["prompt"]), "scores": scores, "costs": costs,
                 "domain": task, "task": task},
                where=f"{path}:{number}",
            )  # fmt: skip
    _warn(path, missing, dropped)


def routerbench_text(raw: str) -> str:
    """RouterBench stores a prompt (and a response) as the repr of a list of turns; join them."""
    text = raw.strip()
    if text.startswith("["):
        try:
            turns = ast.literal_eval(text)  # literals only: never executes code
        except (ValueError, SyntaxError):
            return raw
        if isinstance(turns, list) and all(isinstance(t, str) for t in turns):
            return "\n".join(turns)
    return raw


def _count_missing(scores: object) -> int:
    if not isinstance(scores, dict):
        return 0
    return sum(1 for v in scores.values() if v is None or (isinstance(v, float) and math.isnan(v)))


def _warn(path: Path, missing: int, dropped: int) -> None:
    if missing or dropped:
        message = f"{path}: {missing} missing scores left out (not counted as zero)"
        if dropped:
            message += f"; {dropped} incomplete rows dropped"
        warnings.warn(message, UserWarning, stacklevel=3)
