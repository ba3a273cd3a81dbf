"""Bad RouterBench data: empty cells, zero prices, an expert without scores, an index column."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from ir3de_core.data import Record, cost_table, load_records

HEADER = ",sample_id,prompt,eval_name,m1,m2,dead,m1|total_cost,m2|total_cost,dead|total_cost\n"
ROWS = [
    "0,a,\"['hello there']\",t,1,0,,0.001,0.01,0.5\n",  # dead is priced but never scored
    "1,b,\"['second prompt']\",t,,1,,0.001,0.01,\n",  # m1's score is empty
    "2,c,\"['third prompt']\",t,0,1,,0,0.02,\n",  # m1's price is zero
    "3,d,\"['fourth prompt']\",t,1,1,,0.003,,\n",  # m2's price is missing
]


def _records(tmp_path: Path) -> list:
    path = tmp_path / "bad_test.csv"
    path.write_text(HEADER + "".join(ROWS), encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the loader warns about the empty cells itself
        return load_records([path])


def test_bad_rows_are_handled_and_counted(tmp_path: Path) -> None:
    table, report = cost_table(_records(tmp_path))
    assert table.experts == ("m1", "m2")
    assert report.index_columns in ([], [""])  # newer loaders skip the index column themselves
    assert report.unscored_experts == ["dead"]
    assert report.rows_in == 4
    assert report.missing_scores == 1
    assert report.rows_dropped == 1
    assert report.zero_costs == 1
    assert report.missing_costs == 1
    assert table.n == 3
    # zero and missing prices become the expert's median positive price on the kept rows
    np.testing.assert_allclose(table.costs[:, 0], [0.001, 0.002, 0.003])
    np.testing.assert_allclose(table.costs[:, 1], [0.01, 0.02, 0.015])
    lines = report.lines()
    assert any("dead" in line for line in lines)
    assert any("1 zero prices" in line for line in lines)


def test_index_column_read_as_a_model_is_dropped() -> None:
    records = [
        Record("p1", scores={"": 36455.0, "m1": 1.0}, costs={"m1": 0.1}),
        Record("p2", scores={"": 36456.0, "m1": 0.0}, costs={"m1": 0.1}),
    ]
    table, report = cost_table(records)
    assert table.experts == ("m1",)
    assert report.index_columns == [""]
    assert any("index column" in line for line in report.lines())


def test_keep_missing_rows_leaves_nan_not_zero(tmp_path: Path) -> None:
    table, report = cost_table(_records(tmp_path), missing="keep", zero_costs="keep")
    assert table.n == 4
    assert report.rows_dropped == 0
    assert np.isnan(table.scores[1, 0])
    assert table.costs[2, 0] == 0.0


def test_data_without_prices_keeps_nan_costs() -> None:
    records = [Record("p1", scores={"a": 1.0, "b": 0.0}), Record("p2", scores={"a": 0.0, "b": 1.0})]
    table, report = cost_table(records)
    assert np.isnan(table.costs).all()
    assert report.lines() == []


def test_expert_without_any_price_is_an_error(tmp_path: Path) -> None:
    records = _records(tmp_path)
    for r in records:
        r.costs.pop("m2", None)  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="no usable price"):
        cost_table(records)


@pytest.mark.shared_data
def test_real_routerbench_has_no_problem_rows(shared_data: Path) -> None:
    records = load_records([shared_data / "routerbench" / "mbpp_test.csv"])
    table, report = cost_table(records)
    assert len(table.experts) == 11
    assert "" not in table.experts
    assert (report.rows_dropped, report.zero_costs, report.missing_costs) == (0, 0, 0)
    assert (table.costs > 0).all()
