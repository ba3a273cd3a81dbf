"""Defect 2: every data error names the file, the line (or row, or item), the column or field,
and what to do; the streaming reader gives the same message as the loaders."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ir3de_core.data import load_records
from ir3de_core.scale.streaming import iter_positioned

HEADER = "sample_id,prompt,eval_name,a,b,a|total_cost\n"


def _errors(path: Path) -> list[str]:
    """The message of each reader (loaders, streaming fit); both must fail (with a `DataError`,
    a `ValueError`)."""
    messages = []
    for read in (lambda: load_records([path]), lambda: list(iter_positioned([path]))):
        with pytest.raises(ValueError) as caught:
            read()
        messages.append(str(caught.value))
    return messages


@pytest.mark.parametrize(
    ("cells", "column", "value"),
    [("math,1,zero,0.1", "b", "zero"), ("math,1,0,cheap", "a|total_cost", "cheap")],
    ids=["score", "cost"],
)
def test_a_non_numeric_csv_cell_names_file_line_and_column(
    tmp_path: Path, cells: str, column: str, value: str
) -> None:
    path = tmp_path / "bench.csv"
    path.write_text(f'{HEADER}0,"a prompt\nover two lines",math,1,0,0.1\n1,second,{cells}\n')
    for message in _errors(path):
        assert message.startswith(f"{path}:4: column {column!r}: {value!r} is not a number")
        assert "leave the cell empty" in message  # what to do


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [("d.jsonl", '{"prompt": "ok"}\n{"prompt": "caf\xe9"}\n', "2: not UTF-8 text (byte 0xe9 at column 16)"),
     ("d.csv", "prompt,a\nok,1\ncaf\xe9,0\n", "3: not UTF-8 text (byte 0xe9 at column 4)"),
     ("gsm8k_test.json", '[{"question": "ok", "scores": {}},\n {"question": "caf\xe9", "scores": {}}]',
      "2: not UTF-8 text (byte 0xe9 at column 19)")],
    ids=["jsonl", "routerbench", "routerdc"],
)  # fmt: skip
def test_a_latin1_file_names_file_line_and_column(
    tmp_path: Path, name: str, text: str, where: str
) -> None:
    path = tmp_path / name
    path.write_bytes(text.encode("latin-1"))
    for message in _errors(path):
        assert message.startswith(f"{path}:{where}")
        assert "save the file as UTF-8" in message


def test_jsonl_errors_name_the_line_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    cases = {
        '{"prompt": "ok", "scores": {"a": 1}\n': r":1: not valid JSON \(Expecting ',' delimiter at column 36\)",
        "[1, 2]\n": r":1: expected a JSON object such as \{\"prompt\": \"...\"\}, got a JSON list",
        '{"text": "hi"}\n': r":1: no 'prompt' field",
        '{"prompt": "hi", "scores": {"a": "high"}}\n': r":1: scores\['a'\] = 'high' is not a number; use null",
        '{"prompt": "hi", "scores": [1]}\n': r":1: scores must be an object \{expert: number\}, got list",
        '{"prompt": "hi", "costs": {"a": 1e999}}\n': r":1: costs\['a'\] is infinite",
        '{"prompt": "hi", "scores": {"a": 1' + "0" * 400 + "}}\n": r":1: scores\['a'\] is infinite",
        '{"prompt": "hi", "scores": {"a": 1' + "0" * 5000 + "}}\n": r":1: cannot read this JSON \(Exceeds the limit",
        '{"prompt": "hi", "scores": {"": 1}}\n': r":1: scores has an empty expert name",
        '{"prompt": "\\ud800"}\n': r":1: 'prompt' holds an unpaired surrogate",
        '{"prompt": "hi", "domain": ""}\n': r":1: domain must be a non-empty string",
        '{"prompt": "hi", "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n": r":1: cannot read this JSON \(nested too deeply\)",
    }  # fmt: skip
    for line, pattern in cases.items():
        path.write_text(line)
        for message in _errors(path):
            assert re.match(re.escape(str(path)) + pattern, message), message


def test_routerdc_errors_name_the_item_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "mmlu_test.json"
    cases = {
        '{"question": "q"}': r": expected a RouterDC JSON list .* got a JSON object",
        '[{"question": "q", "scores": {}}, {"question": 3, "scores": {}}]': r"\[1\]: 'question' must be a non-empty string, got 3",
        '[{"question": "q", "scores": {"m": "x"}}]': r"\[0\]: scores\['m'\] = 'x' is not a number",
        '[{"question": "q", "scores": {}},\n {"question": "q" "scores": {}}]': r":2: not valid JSON \(Expecting ',' delimiter at column 19\)",
    }  # fmt: skip
    for text, pattern in cases.items():
        path.write_text(text)
        for message in _errors(path):
            assert re.match(re.escape(str(path)) + pattern, message), message


def test_csv_structure_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    cases = {
        "sample_id,text,a\n1,hi,1\n": r":1: not a RouterBench CSV: the header needs a 'prompt' column",
        "prompt,a,a\nhi,1,1\n": r":1: column 'a' appears twice in the header; rename one",
        "prompt,a,b\nhi,1,0\nthere,1\n": r":3: the row has 2 cells but the header has 3 columns",
        "prompt,a\n,1\n": r":2: 'prompt' must be a non-empty string, got ''",
        "prompt,a\nhi,inf\n": r":2: scores\['a'\] is infinite",
    }  # fmt: skip
    for text, pattern in cases.items():
        path.write_text(text)
        for message in _errors(path):
            assert re.match(re.escape(str(path)) + pattern, message), message


def test_the_streaming_resume_reads_like_the_loader(tmp_path: Path) -> None:
    """After a resume the line numbers still count from the top of the file."""
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"p{i}"}) + "\n" for i in range(3)) + "{bad\n")
    _, after_first = next(iter(iter_positioned([path])))
    with pytest.raises(ValueError, match=r"d\.jsonl:4: not valid JSON"):
        list(iter_positioned([path], start=after_first))
