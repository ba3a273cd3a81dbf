"""The selector benchmark script runs and reports sane numbers (fast: hashing features)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "llamaindex_selector.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("llamaindex_selector", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


def test_benchmark_rows_and_table(bench: ModuleType) -> None:
    from ir3de_core.featurizers import make_featurizer

    rows = bench.run(make_featurizer({"kind": "hashing", "tfidf": False}), repeat=1)
    assert [r.name.split(" ")[0] for r in rows] == [
        "EmbeddingSingleSelector",
        "IR3DESelector",
        "IR3DESelector",
    ]
    for row in rows:
        assert 0.0 <= row.accuracy <= 1.0
        assert 0.0 < row.p50_ms <= row.p99_ms
        assert not math.isnan(row.repeat_p50_ms)
    examples, descriptions = rows[2], rows[1]
    assert examples.accuracy > descriptions.accuracy  # examples teach more than descriptions
    table = bench.format_table(rows, 30)
    assert "accuracy" in table and "p99 ms" in table
    assert len(table.splitlines()) == 2 + len(rows) + 1


def test_benchmark_main_prints_the_table(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench.main(["--featurizer", "hashing", "--repeat", "0", "--threads", "0"]) == 0
    out = capsys.readouterr().out
    assert "IR3DESelector (5 examples/choice)" in out
    assert "EmbeddingSingleSelector (descriptions)" in out
