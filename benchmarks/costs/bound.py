"""What reaching GPT-4's quality at ≤ 30 % of its cost asks of any router on RouterBench.

GPT-4's spend splits between the two tasks; on mbpp a cheap LLM matches GPT-4, on winogrande
none comes close. The budget arithmetic says how much of GPT-4's winogrande spend a router may
keep, and the winogrande-only table says how much each router (and an answer-agreement cascade,
a real verifier built from the LLMs' own answers) needs to match GPT-4 there.
"""

from __future__ import annotations

import csv
import itertools
import re
import sys
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from benchmarks.costs.data import BenchSet
from benchmarks.costs.frontier import GPT4, Curve, lambda_curve
from benchmarks.costs.tables import Table
from ir3de_core.data import CostTable
from ir3de_core.data.loaders import expand_paths, routerbench_text
from ir3de_core.decide.metrics import cost_to_reach

__all__ = ["TARGET_SHARE", "agreement_points", "bound_tables", "letter_answers"]

TARGET_SHARE = 0.30
CHOICE_TASK = "winogrande"
FloatArray = NDArray[np.float64]
SPEND_HEADERS = ["task", "prompts", "GPT-4 quality", "% of GPT-4 spend",
                 "cheapest LLM matching GPT-4", "its % of GPT-4 spend"]  # fmt: skip
SPEND_HEADERS = ["task", "prompts", "GPT-4 quality", "% of GPT-4 spend",
                 "cheapest LLM matching GPT-4", "its % of GPT-4 spend"]  # fmt: skip


def letter_answers(data: Path, split: str, experts: tuple[str, ...]) -> NDArray[np.str_]:
    """Each LLM's multiple-choice letter on each RouterBench prompt of `split`, in the loader's
    row order: array of shape (n, k); ``"?"`` where no letter A–E starts the answer."""
    csv.field_size_limit(sys.maxsize)
    rows = []
    for path in expand_paths([data], split):
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                rows.append([_letter(row.get(f"{e}|model_response") or "") for e in experts])
    return np.array(rows, dtype="<U1")


def _letter(response: str) -> str:
    found = re.match(r"\s*\(?([A-E])\b", routerbench_text(response))
    return found.group(1) if found else "?"


def agreement_points(
    table: CostTable, answers: NDArray[np.str_], strong: int, cheap: list[int]
) -> Curve:
    """Cascades "ask 2 or 3 cheap LLMs; accept their answer when all agree, else ask `strong`":
    one (cost, quality) point per set of cheap LLMs. Every LLM asked is paid for."""
    costs, qualities = [], []
    for size in (2, 3):
        for group in itertools.combinations(cheap, size):
            first = answers[:, group[0]]
            agree = np.all(answers[:, group] == first[:, None], axis=1) & (first != "?")
            chosen = np.where(agree, group[0], strong)
            paid = table.costs[:, group].sum(axis=1) + np.where(agree, 0.0, table.costs[:, strong])
            costs.append(float(paid.mean()))
            qualities.append(float(table.scores[np.arange(table.n), chosen].mean()))
    return costs, qualities


def bound_tables(
    bench: BenchSet, data: Path, qualities: dict[str, FloatArray], estimated: FloatArray
) -> list[Table]:
    """The per-task spend of GPT-4 and, on winogrande alone, the cost each router needs to
    match GPT-4's accuracy there."""
    test, strong = bench.test, bench.test.experts.index(GPT4)
    tasks = np.asarray(test.tasks)
    total = float(test.costs[:, strong].sum())
    spend_rows, cheapest_spend = [], 0.0
    for task in sorted(set(test.tasks)):
        rows = tasks == task
        quality = test.scores[rows].mean(axis=0)
        mean_cost = test.costs[rows].mean(axis=0)
        matching = np.flatnonzero(quality >= quality[strong])
        best = int(matching[np.argmin(mean_cost[matching])])
        cheapest_spend += float(test.costs[rows, best].sum()) if task != CHOICE_TASK else 0.0
        spend_rows.append([task, int(rows.sum()), float(quality[strong]),
                           100 * float(test.costs[rows, strong].sum()) / total,
                           test.experts[best], 100 * float(test.costs[rows, best].sum()) / total])  # fmt: skip
    choice = tasks == CHOICE_TASK
    choice_spend = float(test.costs[choice, strong].sum())
    allowed = 100 * (TARGET_SHARE * total - cheapest_spend) / choice_spend
    spend = Table(
        "Where GPT-4's test spend goes (the ≤ 30 % target's arithmetic)",
        SPEND_HEADERS,
        spend_rows,
        digits=3,
        notes=[
            f"With every other task on its cheapest GPT-4-matching LLM, a router may spend at most "
            f"{allowed:.1f} % of GPT-4's {CHOICE_TASK} spend on {CHOICE_TASK} and still be within "
            f"{100 * TARGET_SHARE:.0f} % overall — while matching GPT-4's {CHOICE_TASK} accuracy."
        ],
    )
    return [spend, _choice_task_table(bench, data, qualities, estimated, allowed)]


def _choice_task_table(
    bench: BenchSet,
    data: Path,
    qualities: dict[str, FloatArray],
    estimated: FloatArray,
    allowed: float,
) -> Table:
    test, strong = bench.test, bench.test.experts.index(GPT4)
    rows = np.flatnonzero(np.asarray(test.tasks) == CHOICE_TASK)
    sub = test.rows(rows)
    gpt4_quality, gpt4_cost = (
        float(sub.scores[:, strong].mean()),
        float(sub.costs[:, strong].mean()),
    )
    curves: dict[str, Curve] = {
        name: lambda_curve(q[rows], estimated[rows], sub) for name, q in qualities.items()
    }
    notes = []
    answers = letter_answers(data / bench.name, "test", test.experts)
    if answers.shape[0] == test.n:
        cheap = [j for j in np.argsort(bench.train.costs.mean(axis=0))[:7].tolist() if j != strong]
        curves["answer-agreement cascades (best of 56, chosen on test)"] = agreement_points(
            sub, answers[rows], strong, cheap
        )
    else:
        notes.append("answer-agreement cascades skipped: answers and scores have different rows")
    curves["per-query oracle"] = lambda_curve(sub.scores, sub.costs, sub)
    out = []
    for name, (c, q) in curves.items():
        reach = cost_to_reach(c, q, gpt4_quality)
        out.append([name, max(q), None if reach is None else 100 * reach / gpt4_cost])
    return Table(
        f"{CHOICE_TASK} only (test): % of GPT-4's cost needed to match its accuracy "
        f"({gpt4_quality:.3f}); the ≤ 30 % target allows {allowed:.1f} %",
        ["router", "best accuracy", f"% of GPT-4's {CHOICE_TASK} cost at its accuracy"],
        out,
        digits=3,
        notes=notes,
    )
