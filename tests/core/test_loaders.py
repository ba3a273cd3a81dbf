"""Loaders: canonical JSONL, RouterDC JSON (with its scoring rule), RouterBench CSV."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from ir3de_cli.evaluation import (
    best_single_expert,
    evaluate_choices,
    oracle_choices,
    task_oracle_experts,
)
from ir3de_core.data import Record, load_records, load_routerbench, load_routerdc


def test_jsonl_round_trip_and_line_numbered_errors(tmp_path: Path) -> None:
    rows = [
        {
            "prompt": "2+2?",
            "scores": {"a": 1, "b": 0},
            "costs": {"a": 0.1},
            "domain": "math",
            "task": "t",
        },
        {"prompt": "hola", "domain": "lang"},
    ]
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    records = load_records([path])
    assert [r.to_dict() for r in records] == [
        {**rows[0], "scores": {"a": 1.0, "b": 0.0}, "costs": {"a": 0.1}},
        rows[1],
    ]
    path.write_text('{"prompt": "ok"}\n{"prompt": ""}\n')
    with pytest.raises(ValueError, match=r"data.jsonl:2: 'prompt' must be a non-empty string"):
        load_records([path])
    path.write_text('{"prompt": "ok"}\nnot json\n')
    with pytest.raises(ValueError, match=r"data.jsonl:2: not valid JSON"):
        load_records([path])
    path.write_text('{"prompt": "ok", "scores": {"a": "high"}}\n')
    with pytest.raises(ValueError, match="is not a number"):
        load_records([path])


def test_jsonl_missing_scores_are_counted_never_zero(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(
        json.dumps({"prompt": "p", "scores": {"a": 1, "b": None}}) + "\n"
        + json.dumps({"prompt": "q", "scores": {"a": 0, "b": 1}}) + "\n"
    )  # fmt: skip
    with pytest.warns(UserWarning, match="1 missing scores left out"):
        records = load_records([path])
    assert records[0].scores == {"a": 1.0}
    with pytest.warns(UserWarning, match="1 incomplete rows dropped"):
        assert len(load_records([path], drop_incomplete=True)) == 1


def test_routerdc_rule_binarises_multiple_choice_only(tmp_path: Path) -> None:
    item = {"question": "Q?", "scores": {"m1": 0.37, "m2": 0.0}}
    (tmp_path / "mmlu_test.json").write_text(json.dumps([item]))
    (tmp_path / "gsm8k_test.json").write_text(json.dumps([item]))
    (tmp_path / "gsm8k_train.json").write_text(json.dumps([item, item]))
    mmlu = load_routerdc(tmp_path / "mmlu_test.json")[0]
    gsm8k = load_routerdc(tmp_path / "gsm8k_test.json")[0]
    assert mmlu.scores == {"m1": 1.0, "m2": 0.0} and mmlu.task == mmlu.domain == "mmlu"
    assert gsm8k.scores == {"m1": 0.37, "m2": 0.0}
    assert len(load_records([tmp_path], split="test")) == 2
    assert len(load_records([tmp_path], split="train")) == 2


def test_routerbench_csv_with_empty_cells(tmp_path: Path) -> None:
    path = tmp_path / "mbpp_test.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "sample_id",
                "prompt",
                "eval_name",
                "a",
                "b",
                "a|total_cost",
                "b|total_cost",
                "a|model_response",
            ]
        )
        writer.writerow(["1", "['Write code', 'for sorting']", "mbpp", "1", "0", "0.5", "0.0", "x"])
        writer.writerow(["2", "plain prompt", "mbpp", "", "1", "", "0.2", "y"])
    with pytest.warns(UserWarning, match="1 missing scores left out"):
        records = list(load_routerbench(path))
    assert records[0].prompt == "Write code\nfor sorting"
    assert records[0].costs == {"a": 0.5, "b": 0.0} and records[1].scores == {"b": 1.0}
    with pytest.warns(UserWarning, match="1 incomplete rows dropped"):
        assert len(list(load_routerbench(path, drop_incomplete=True))) == 1


def test_evaluation_per_task_and_routing_accuracy() -> None:
    records = [
        Record("p1", {"a": 1.0, "b": 0.0}, domain="x", task="x"),
        Record("p2", {"a": 0.0, "b": 1.0}, domain="x", task="x"),
        Record("p3", {"a": 0.5, "b": 1.0}, domain="y", task="y"),
    ]
    result = evaluate_choices(records, ["a", "a", "b"], ["x", "y", "y"])
    assert result.tasks == {"x": {"accuracy": 50.0, "n": 2}, "y": {"accuracy": 100.0, "n": 1}}
    assert result.average_accuracy == 75.0
    assert result.routing_accuracy == pytest.approx(200 / 3)
    assert result.normalized_routing_accuracy == 75.0
    assert result.confusion == {"labels": ["x", "y"], "matrix": [[1, 1], [0, 1]]}
    assert oracle_choices(records, ["a", "b"]) == ["a", "b", "b"]


@pytest.mark.shared_data
def test_real_routerdc_reference_figures(shared_data: Path) -> None:
    """The figures in shared/data/README.md: best single 54.56, task oracle 58.67, oracle 77.52."""
    train = load_records([shared_data / "routerdc"], split="train")
    test = load_records([shared_data / "routerdc"], split="test")
    experts = list(test[0].scores)
    assert {len([r for r in test if r.task == t]) for t in ("mmlu", "gsm8k", "cmmlu", "arc_challenge", "humaneval")} == {
        4213, 1319, 3475, 352, 49}  # fmt: skip
    best = best_single_expert(train, experts)
    assert best == "cognitivecomputations/dolphin-2.9-llama3-8b"
    assert evaluate_choices(test, [best] * len(test)).average_accuracy == pytest.approx(
        54.56, abs=0.005
    )
    per_task = task_oracle_experts(train, experts)
    task_oracle = evaluate_choices(test, [per_task[r.task] for r in test])  # type: ignore[index]
    assert task_oracle.average_accuracy == pytest.approx(58.67, abs=0.005)
    assert evaluate_choices(test, oracle_choices(test, experts)).average_accuracy == pytest.approx(
        77.52, abs=0.005
    )


@pytest.mark.shared_data
def test_real_routerbench_files_load(shared_data: Path) -> None:
    records = list(load_routerbench(shared_data / "routerbench" / "winogrande_test.csv"))
    assert len(records) > 100 and all(r.task == "winogrande" for r in records)
    assert len(records[0].scores) == 11 and set(records[0].costs) <= set(records[0].scores)
    assert all(set(np.unique(list(r.scores.values()))) <= {0.0, 1.0} for r in records[:50])
