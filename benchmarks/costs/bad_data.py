"""Bad data: a corrupted copy of the RouterBench test split, handled and counted."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from benchmarks.costs.tables import Table
from ir3de_core.data import Record, cost_table, load_records

__all__ = ["bad_data_table"]


def bad_data_table(data: Path, seed: int = 0) -> Table:
    """Empty score cells (3 % of rows), prices of zero (5 %) and a priced LLM that was never
    scored, injected in memory into the test split; the table counts how each was handled."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        records = load_records([data], split="test")
    rng = np.random.default_rng(seed)
    corrupted = []
    injected = {"empty score cells": 0, "zero prices": 0}
    for r in records:
        scores, costs = dict(r.scores), dict(r.costs)
        if rng.random() < 0.03:
            scores.pop(str(rng.choice(list(scores))))
            injected["empty score cells"] += 1
        if rng.random() < 0.05:
            costs[str(rng.choice(list(costs)))] = 0.0
            injected["zero prices"] += 1
        costs["never-scored-llm"] = 0.001
        corrupted.append(Record(r.prompt, scores, costs, r.domain, r.task))
    table, report = cost_table(corrupted)
    rows: list[list[object]] = [
        ["rows read", report.rows_in],
        ["rows kept", table.n],
        ["empty score cells found (injected)", f"{report.missing_scores} ({injected['empty score cells']})"],
        ["rows dropped for an empty score (never read as 0)", report.rows_dropped],
        ["zero prices replaced by the LLM's median (injected)", f"{report.zero_costs} ({injected['zero prices']})"],
        ["priced LLMs without any score, dropped", ", ".join(report.unscored_experts) or "none"],
        ["LLMs kept", len(table.experts)],
    ]  # fmt: skip
    return Table(
        "RouterBench test with injected bad data (in memory): what cost_table did",
        ["what", "count"],
        rows,
        notes=[f"report: {line}" for line in report.lines()],
    )
