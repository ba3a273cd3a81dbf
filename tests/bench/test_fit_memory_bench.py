"""`benchmarks.fit_memory`: one small cell end to end, and how repeated runs are summarised."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import fit_memory


def test_a_small_cell_runs_every_estimator_and_repeats_quick_fits(tmp_path: Path) -> None:
    out = tmp_path / "grid.json"
    assert fit_memory.main(["--n", "20", "--d", "64", "--k", "3", "--json", str(out)]) == 0
    (cell,) = json.loads(out.read_text(encoding="utf-8"))
    assert (cell["n"], cell["d"], cell["k"]) == (20, 64, 3)
    for estimator in fit_memory.ESTIMATORS:
        assert cell[estimator]["rows"] == 20
        assert cell[estimator]["runs"] == fit_memory.REPEATS  # each is far under QUICK
        assert 0 < cell[estimator]["seconds"] < fit_memory.QUICK


def test_the_summary_is_the_median_time_and_the_largest_peak() -> None:
    runs = [
        {"seconds": s, "peak_bytes": p, "rows": 5} for s, p in ((3.0, 10), (1.0, 30), (2.0, 20))
    ]
    assert fit_memory._summary(runs) == {"seconds": 2.0, "peak_bytes": 30, "rows": 5, "runs": 3}
    refused = {"refused": "> 1 s"}
    assert fit_memory._summary([refused]) == refused
    assert fit_memory._summary([runs[0], refused]) == runs[0]  # a run that failed: not a median
