"""Defect 1: one BOM rule for every reader. A leading UTF-8 byte-order mark is skipped by the JSONL
readers (text and byte-offset), RouterDC JSON and RouterBench CSV; anywhere else it is an error,
the same error for both JSONL paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ir3de_cli.main import main
from ir3de_core.data import load_records
from ir3de_core.router import IR3DERouter
from ir3de_core.scale.checkpoint import Position
from ir3de_core.scale.streaming import iter_positioned
from ir3de_core.scale.training import fit_stream
from tests.reliability.helpers import BOM

ROWS = [
    {"prompt": "what is 2+2", "scores": {"a": 1, "b": 0}, "domain": "math", "task": "math"},
    {"prompt": "write a poem", "scores": {"a": 0, "b": 1}, "domain": "writing", "task": "writing"},
    {"prompt": "solve x+1=3", "scores": {"a": 1, "b": 0}, "domain": "math", "task": "math"},
]
JSONL = "".join(json.dumps(r) + "\n" for r in ROWS)
# pandas writes its index as an unnamed first column: with a BOM it was read as a model "\ufeff"
CSV = ",prompt,eval_name,a,b\n" + "".join(
    f"{i},{r['prompt']},{r['task']},{r['scores']['a']},{r['scores']['b']}\n"
    for i, r in enumerate(ROWS)
)
ROUTERDC = json.dumps([{"question": r["prompt"], "scores": r["scores"]} for r in ROWS])


def _pair(tmp_path: Path, name: str, text: str) -> tuple[Path, Path]:
    plain, marked = tmp_path / "plain" / name, tmp_path / "bom" / name
    for path, prefix in ((plain, b""), (marked, BOM)):
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(prefix + text.encode("utf-8"))
    return plain, marked


@pytest.mark.parametrize(
    ("name", "text"),
    [("d.jsonl", JSONL), ("gsm8k_test.json", ROUTERDC), ("d_test.csv", CSV)],
    ids=["jsonl", "routerdc", "routerbench"],
)
def test_every_reader_skips_a_leading_bom(tmp_path: Path, name: str, text: str) -> None:
    plain, marked = _pair(tmp_path, name, text)
    want = load_records([plain])
    assert len(want) == 3 and set(want[0].scores) == {"a", "b"}
    assert load_records([marked]) == want  # the in-memory loaders
    streamed = [record for record, _ in iter_positioned([marked])]
    assert streamed == want  # the streaming fit's reader


def test_bom_csv_names_only_the_real_models(tmp_path: Path) -> None:
    _, marked = _pair(tmp_path, "d_test.csv", CSV)
    router = fit_stream(IR3DERouter("hashing", target="quality"), [marked], progress=False).router
    assert list(router.experts_) == ["a", "b"]  # no expert "\ufeff" scored by the row index


def test_streaming_offsets_count_the_bom_and_resume_after_it(tmp_path: Path) -> None:
    _, marked = _pair(tmp_path, "d.jsonl", JSONL)
    positioned = list(iter_positioned([marked]))
    first_line = len(json.dumps(ROWS[0])) + 1
    assert positioned[0][1] == Position(0, len(BOM) + first_line, 1)
    resumed = [r for r, _ in iter_positioned([marked], start=positioned[0][1])]
    assert resumed == [r for r, _ in positioned[1:]]


def test_a_bom_inside_a_file_is_the_same_error_on_both_jsonl_paths(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(JSONL.encode() + BOM + JSONL.encode())
    with pytest.raises(ValueError, match=r"d\.jsonl:4: not valid JSON") as loaded:
        load_records([path])
    with pytest.raises(ValueError, match=r"d\.jsonl:4: not valid JSON") as streamed:
        list(iter_positioned([path]))
    assert str(loaded.value) == str(streamed.value)


def test_cli_fit_and_evaluate_accept_the_same_bom_file(tmp_path: Path, capsys) -> None:
    _, marked = _pair(tmp_path, "d.jsonl", JSONL)
    model = str(tmp_path / "model")
    fit = ["-q", "fit", "--data", str(marked), "--featurizer", "hashing", "--out", model]
    assert main(fit) == 0
    assert main(["-q", "evaluate", "--model", model, "--data", str(marked)]) == 0
    assert "average" in capsys.readouterr().out
