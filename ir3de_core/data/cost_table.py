"""Scores and costs of every expert on every prompt as arrays, with bad data handled and counted.

RouterBench-style data has traps: an unnamed index column that looks like a model, empty score
cells, prices of zero, experts that were never scored. `cost_table` handles each one the same way
every time and says how often it did so in a `DataReport`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from ir3de_core.data.records import Record

__all__ = ["CostTable", "DataReport", "cost_table"]

FloatArray = NDArray[np.float64]
MissingRows = Literal["drop", "keep"]
ZeroCosts = Literal["impute", "keep"]
_INDEX_NAMES = ("", "Unnamed: 0", "index")


@dataclass(frozen=True)
class CostTable:
    """Per-prompt scores and costs of k experts.

    Attributes:
        prompts: n prompts.
        experts: the k experts, in column order.
        scores: array of shape (n, k), observed quality; NaN where unscored.
        costs: array of shape (n, k), cost of asking each expert (e.g. USD).
        tasks: n task names ("all" when unknown).
    """

    prompts: list[str]
    experts: tuple[str, ...]
    scores: FloatArray
    costs: FloatArray
    tasks: list[str]

    @property
    def n(self) -> int:
        """Number of prompts."""
        return len(self.prompts)

    def rows(self, index: Sequence[int] | NDArray[np.intp]) -> CostTable:
        """The prompts at `index` (shape (m,))."""
        idx = np.asarray(index, dtype=np.intp)
        return CostTable(
            [self.prompts[i] for i in idx], self.experts, self.scores[idx], self.costs[idx],
            [self.tasks[i] for i in idx],
        )  # fmt: skip

    def columns(self, experts: Sequence[str]) -> CostTable:
        """Only (and in the order of) `experts`."""
        unknown = sorted(set(experts) - set(self.experts))
        if unknown:
            msg = f"unknown expert(s) {unknown}; known: {list(self.experts)}"
            raise KeyError(msg)
        idx = [self.experts.index(e) for e in experts]
        return CostTable(
            self.prompts, tuple(experts), self.scores[:, idx], self.costs[:, idx], self.tasks
        )


@dataclass
class DataReport:
    """What `cost_table` did to the data (all counts).

    Attributes:
        rows_in: records read.
        rows_dropped: records dropped because an expert's score was missing.
        missing_scores: empty score cells among the kept experts.
        zero_costs: costs of exactly zero replaced by the expert's median positive cost.
        missing_costs: absent costs replaced the same way.
        index_columns: columns dropped because they are an unnamed row index, not a model.
        unscored_experts: experts dropped because no record scores them.
    """

    rows_in: int = 0
    rows_dropped: int = 0
    missing_scores: int = 0
    zero_costs: int = 0
    missing_costs: int = 0
    index_columns: list[str] = field(default_factory=list)
    unscored_experts: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """One human-readable line per kind of problem found (empty when the data was clean)."""
        out = []
        if self.index_columns:
            out.append(f"dropped {len(self.index_columns)} unnamed index column(s) read as models")
        if self.unscored_experts:
            out.append(f"dropped experts with no scores: {', '.join(self.unscored_experts)}")
        if self.missing_scores:
            kept = "rows dropped" if self.rows_dropped else "left missing"
            out.append(f"{self.missing_scores} empty score cells ({self.rows_dropped} {kept})")
        if self.zero_costs:
            out.append(f"{self.zero_costs} zero prices replaced by the expert's median price")
        if self.missing_costs:
            out.append(f"{self.missing_costs} missing prices replaced by the expert's median price")
        return out


def cost_table(
    records: Sequence[Record],
    *,
    missing: MissingRows = "drop",
    zero_costs: ZeroCosts = "impute",
) -> tuple[CostTable, DataReport]:
    """Arrays of scores and costs from records, with a report of the problems handled.

    Args:
        records: n records with ``scores`` and ``costs``.
        missing: ``"drop"`` a record when any expert's score is missing (so every routing choice
            can be scored), or ``"keep"`` it with NaN (never zero).
        zero_costs: ``"impute"`` treats a price of 0 as unknown (a free expert would win every
            cost-aware decision) and replaces it, like a missing price, with the expert's median
            positive cost; ``"keep"`` keeps zeros (e.g. for really free local models). Data
            without any price at all keeps NaN costs.

    Raises:
        ValueError: no records, no scored expert, or an expert without any usable price.
    """
    report = DataReport(rows_in=len(records))
    seen = list(dict.fromkeys(e for r in records for e in (*r.scores, *r.costs)))
    report.index_columns = [e for e in seen if e.strip() in _INDEX_NAMES]
    scored = {e for r in records for e in r.scores}
    report.unscored_experts = [e for e in seen if e not in scored and e not in report.index_columns]
    experts = tuple(e for e in seen if e in scored and e not in report.index_columns)
    if not experts:
        msg = "no expert has any score; check the score columns of the data"
        raise ValueError(msg)
    scores = np.array([[r.scores.get(e, np.nan) for e in experts] for r in records])
    costs = np.array([[r.costs.get(e, np.nan) for e in experts] for r in records])
    empty = np.isnan(scores)
    report.missing_scores = int(empty.sum())
    keep = ~empty.any(axis=1) if missing == "drop" else np.ones(len(records), dtype=bool)
    report.rows_dropped = int((~keep).sum())
    if not keep.any():
        msg = "every record misses some expert's score; use missing='keep' or drop that expert"
        raise ValueError(msg)
    scores, costs = scores[keep], _fill_costs(costs[keep], experts, zero_costs, report)
    kept = [r for r, k in zip(records, keep, strict=True) if k]
    table = CostTable(
        [r.prompt for r in kept], experts, scores, costs, [r.task or "all" for r in kept]
    )
    return table, report


def _fill_costs(
    costs: FloatArray, experts: Sequence[str], zero_costs: ZeroCosts, report: DataReport
) -> FloatArray:
    """Replace missing (and, when imputing, zero) costs by each expert's median positive cost."""
    out = costs.copy()
    unknown = np.isnan(out)
    if unknown.all():  # data without any prices (e.g. RouterDC): costs stay unknown (NaN)
        return out
    report.missing_costs = int(unknown.sum())
    if zero_costs == "impute":
        zero = out == 0
        report.zero_costs = int(zero.sum())
        unknown |= zero
    for j, expert in enumerate(experts):
        if not unknown[:, j].any():
            continue
        known = out[~unknown[:, j], j]
        usable = known[known > 0] if zero_costs == "impute" else known
        if usable.size == 0:
            msg = f"expert {expert!r} has no usable price; give one (e.g. calibrate --price)"
            raise ValueError(msg)
        out[unknown[:, j], j] = float(np.median(usable))
    return out
