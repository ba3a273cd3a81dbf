"""`python -m benchmarks costs` on the real RouterBench data with hashing features (fast, no model).

Checks what must hold whatever the featurizer: orderings the metrics guarantee, the bad-data
counts, learning from feedback, and the unseen-LLM table's shape. Quality targets are measured
by the full benchmark with MiniLM embeddings (docs/benchmarks.md). Skips without ../shared/data.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks.__main__ import main
from benchmarks.costs import CostBenchOptions, Table, run_costs
from benchmarks.costs.bound import letter_answers
from benchmarks.costs.feedback import FeedbackOptions
from benchmarks.costs.unseen import UnseenOptions

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def options(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> CostBenchOptions:
    folder = tmp_path_factory.mktemp("costs")
    return CostBenchOptions(
        data=shared_data,
        featurizer="hashing",
        unseen_on=("routerbench",),
        feedback_on=("routerbench",),
        unseen=UnseenOptions(splits=2, n_clusters=8, sweep=(50, 400)),
        feedback=FeedbackOptions(checkpoints=2),
        cache=folder / "cache",
        out_dir=folder / "out",
    )


def _rows(table: Table) -> dict[str, list]:
    return {str(row[0]): row[1:] for row in table.rows}


def test_routerbench_frontier_budgets_and_bound(options: CostBenchOptions) -> None:
    tables = run_costs(replace(options, parts=("routerbench",)), emit=lambda t: None)
    frontier, significance, budgets, two_model, spend, winogrande = tables
    rows = _rows(frontier)
    aiq = {name: values[0] for name, values in rows.items()}
    zero = "zero router (best mix of single LLMs)"
    ridges = [name for name in aiq if name.startswith("ridge")]
    assert len(ridges) == 2 and "defaults" in ridges[1]  # hand-tuned α, then the defaults
    compared = {(str(row[0]), str(row[1])): row[2:] for row in significance.rows}
    for ridge in ridges:
        assert aiq[ridge] > aiq[zero] + 0.03
        beyond_noise = compared[(ridge, zero)]
        assert beyond_noise[0] > 0 and beyond_noise[3] == "yes"  # the CI's lower end is above 0
    assert aiq["per-query oracle"] == max(aiq.values())
    assert rows[zero][3] == pytest.approx(100.0)  # GPT-4 itself
    assert (options.out_dir / "routerbench_cost_quality.png").stat().st_size > 10_000
    shares_of = [row[1] for row in budgets.rows if row[0] == "defaults"]
    assert shares_of == ["10% of GPT-4", "30% of GPT-4", "50% of GPT-4"]
    assert all(row[4] <= row[2] * 1.001 for row in budgets.rows)  # met on the calibration set
    assert "random" in _rows(two_model)
    shares = _rows(spend)
    assert shares["mbpp"][0] + shares["winogrande"][0] == 508
    assert shares["mbpp"][3] == "gpt-3.5-turbo-1106"
    reach = _rows(winogrande)
    assert reach["per-query oracle"][1] < 10
    assert any(name.startswith("answer-agreement") for name in reach)


def test_bad_data_is_counted_never_read_as_zero(options: CostBenchOptions) -> None:
    (table,) = run_costs(replace(options, parts=("baddata",)), emit=lambda t: None)
    counts = {row[0]: row[1] for row in table.rows}
    assert counts["rows read"] == 508
    assert (
        counts["rows read"] - counts["rows kept"]
        == counts["rows dropped for an empty score (never read as 0)"]
    )
    assert counts["rows dropped for an empty score (never read as 0)"] > 0
    assert counts["priced LLMs without any score, dropped"] == "never-scored-llm"
    assert counts["LLMs kept"] == 11


def test_feedback_replay_learns(options: CostBenchOptions) -> None:
    (table,) = run_costs(replace(options, parts=("feedback",)), emit=lambda t: None)
    steps = [row for row in table.rows if isinstance(row[0], int)]
    assert steps[0][0] == 0 and steps[-1][0] == 1136
    assert steps[-1][1] > steps[0][1] + 0.01  # test AIQ after every event vs the seed router
    full = table.rows[-1]
    assert str(full[0]).startswith("full information")
    assert full[1] >= steps[0][1]


def test_unseen_llms_table(options: CostBenchOptions) -> None:
    table, sweep = run_costs(replace(options, parts=("unseen",)), emit=lambda t: None)
    assert [row[0] for row in sweep.rows] == [50, 400]
    rows = _rows(table)
    added = rows["ridge + add_expert"]
    assert added[2].count("–") == 1
    assert abs(added[3]) < 5  # within a few points of the refitted ridge on every split
    assert {"(a) ridge refitted on full data", "(b) kNN k=10 refitted on full data"} <= set(rows)
    assert sum(name.startswith("UniRoute") for name in rows) == 4


def test_letter_answers_parse_routerbench_responses(shared_data: Path) -> None:
    experts = ("gpt-4-1106-preview", "claude-v2")
    answers = letter_answers(shared_data / "routerbench", "test", experts)
    assert answers.shape == (508, 2)
    assert set(answers[:, 0]) <= {"A", "B", "?"}
    assert (answers[:, 0] != "?").mean() > 0.2  # winogrande letters (mbpp answers are code)


def test_cli_writes_json_and_says_where_data_is_missing(
    options: CostBenchOptions, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "costs.json"
    code = main(["costs", "--data", str(options.data), "--part", "baddata",
                 "--featurizer", "hashing", "--quiet", "--json", str(out)])  # fmt: skip
    assert code == 0
    assert json.loads(out.read_text())["tables"][0]["rows"][0] == ["rows read", 508]
    assert main(["costs", "--data", str(tmp_path / "nowhere"), "--quiet"]) == 2
    said = capsys.readouterr().err
    assert (
        "nowhere/routerdc not found: pass --data the folder that holds routerbench/, routerdc/"
        in said
    )
