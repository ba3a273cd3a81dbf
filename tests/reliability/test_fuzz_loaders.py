"""Fuzzing the readers: arbitrary bytes, JSON lines and CSV cells given to `load_records`,
`iter_records` and the streaming fit's reader either give valid `Record`s or raise an ir3de error
(or a ValueError) whose message names the file; never another exception type. All the readers
agree exactly (the loaders' JSONL path and the streaming fit's byte-offset path included): the
same records, or the same error."""

from __future__ import annotations

import csv
import io
import json
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ir3de_core.data import Record, iter_records, load_records
from ir3de_core.exceptions import IR3DEError
from ir3de_core.scale.streaming import iter_positioned
from tests.reliability.helpers import BOM, assert_valid_record

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,  # nothing written into the repository
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _mostly(good: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`good` three times in four, else `odd`: enough valid records to reach the happy path."""
    return st.integers(0, 3).flatmap(lambda i: odd if i == 3 else good)


any_text = st.text(st.characters(exclude_categories=()), max_size=12)  # surrogates included
odd_scalars = (st.none() | st.booleans() | st.integers() | st.floats() | any_text
               | st.sampled_from([10**400, -(10**400), "1e999", "NaN", 2**63]))  # fmt: skip
json_values = st.recursive(
    odd_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
    max_leaves=8,
)  # fmt: skip
numbers = st.none() | st.integers(-3, 3) | st.floats(allow_infinity=False)
experts = _mostly(st.sampled_from(["a", "b", "c"]), st.sampled_from(["", " ", "\ufeff"]) | any_text)
score_maps = _mostly(
    st.dictionaries(experts, _mostly(numbers, odd_scalars), max_size=4), json_values
)
texts = st.text(min_size=1, max_size=20)
prompts = _mostly(
    texts | st.just("what is 2+2"), st.sampled_from([" ", ""]) | any_text | json_values
)
labels = _mostly(st.none() | st.sampled_from(["math", "code"]) | texts, any_text | json_values)
fields = {"scores": score_maps, "costs": score_maps, "domain": labels, "task": labels}
record_objects = _mostly(
    st.fixed_dictionaries({"prompt": prompts}, optional=fields),
    st.fixed_dictionaries({}, optional={"prompt": prompts, **fields}) | json_values,
)
routerdc_items = _mostly(
    st.fixed_dictionaries(
        {"question": prompts, "scores": score_maps},
        optional={"costs": score_maps, "domain": labels},
    ),
    record_objects,
)


def _outcome(read: Callable[[], list[Any]], path: Path) -> list[Record] | str:
    """The records read, or the message of an allowed error (which must name the file)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # missing-score counts
            items = read()
    except (IR3DEError, ValueError) as e:
        assert not isinstance(e, UnicodeError | json.JSONDecodeError), repr(e)
        assert str(path) in str(e), str(e)
        event("error: " + re.sub(r"\d+|\(.*", "", str(e).removeprefix(str(path)))[:40])
        return str(e)
    records = [item[0] if isinstance(item, tuple) else item for item in items]
    event("records" if records else "no records")
    for record in records:
        assert_valid_record(record)
    return records


def _all_readers(path: Path) -> dict[str, list[Record] | str]:
    return {
        "load_records": _outcome(lambda: load_records([path]), path),
        "iter_records": _outcome(lambda: list(iter_records(path)), path),
        "streaming": _outcome(lambda: list(iter_positioned([path])), path),
    }


def _assert_agree(outcomes: dict[str, list[Record] | str]) -> None:
    """Every reader reads the same records or fails with the same message (`load_records`
    refuses a file without records, which the streaming readers yield as nothing)."""
    streamed = outcomes["streaming"]
    assert outcomes["iter_records"] == streamed
    if streamed == []:
        assert isinstance(outcomes["load_records"], str)
        assert outcomes["load_records"].startswith("no records found in")
    else:
        assert outcomes["load_records"] == streamed


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(
    data=st.binary(max_size=300) | st.text(max_size=200).map(str.encode),
    bom=st.booleans(),
    suffix=st.sampled_from([".jsonl", ".json", ".csv"]),
)
def test_arbitrary_bytes(folder: Path, data: bytes, bom: bool, suffix: str) -> None:
    path = folder / f"bytes_test{suffix}"
    path.write_bytes((BOM if bom else b"") + data)
    _assert_agree(_all_readers(path))


@FUZZ
@given(
    lines=st.lists(record_objects, min_size=1, max_size=3),
    ending=st.sampled_from(["\n", "\r\n", "\n\n"]),
    bom=st.booleans(),
)
def test_arbitrary_json_lines(folder: Path, lines: list[Any], ending: str, bom: bool) -> None:
    path = folder / "lines.jsonl"
    text = "".join(json.dumps(line) + ending for line in lines)
    path.write_bytes((BOM if bom else b"") + text.encode("utf-8"))
    _assert_agree(_all_readers(path))


@FUZZ
@given(items=_mostly(st.lists(routerdc_items, max_size=3), json_values), bom=st.booleans())
def test_arbitrary_routerdc_items(folder: Path, items: Any, bom: bool) -> None:
    path = folder / "mmlu_test.json"
    path.write_bytes((BOM if bom else b"") + json.dumps(items).encode("utf-8"))
    _assert_agree(_all_readers(path))


columns = ["prompt", "eval_name", "a", "b", "a|total_cost", "", "Unnamed: 0", "sample_id"]
odd_cells = st.sampled_from(["inf", "-1e999", "x", "[[[", "['a'\\d]", " "]) | texts | any_text
number_cells = _mostly(st.sampled_from(["", "1", "0", "0.5", "nan", "-2", "1e-3"]), odd_cells)
prompt_cells = _mostly(st.sampled_from(["['what is', '2+2']", "what is 2+2"]) | texts, odd_cells)


def _cells(column: str) -> st.SearchStrategy[str]:
    return prompt_cells if column in ("prompt", "eval_name") else number_cells


@st.composite
def csv_tables(draw: st.DrawFn) -> list[list[str]]:
    """A header (mostly a valid RouterBench one) and rows (mostly as wide as the header)."""
    index = st.sampled_from([[], [""], ["Unnamed: 0"]])  # a pandas index column, named or not
    valid = st.tuples(index, st.permutations(columns[:5])).map(lambda t: [*t[0], *t[1]])
    header = draw(_mostly(valid, st.lists(st.sampled_from(columns) | any_text, max_size=6)))
    fitting = st.tuples(*(_cells(c) for c in header)).map(list)
    other = st.lists(number_cells | prompt_cells, max_size=7)
    return [header, *draw(st.lists(_mostly(fitting, other), max_size=3))]


@FUZZ
@given(table=csv_tables(), bom=st.booleans())
def test_arbitrary_csv_cells(folder: Path, table: list[list[str]], bom: bool) -> None:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(table)
    path = folder / "cells_test.csv"
    data = buffer.getvalue().encode("utf-8", errors="surrogatepass")  # unpaired: invalid UTF-8
    path.write_bytes((BOM if bom else b"") + data)
    _assert_agree(_all_readers(path))
