"""The cost benchmark's data: train/test cost tables with cached embeddings, and shared helpers."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from benchmarks.common.features import PrecomputedFeaturizer, cached, embed_and_save
from ir3de_core.data import CostTable, cost_table, load_records
from ir3de_core.featurizers import make_featurizer
from ir3de_core.router import IR3DERouter

__all__ = [
    "ALPHAS",
    "BenchSet",
    "accuracy",
    "default_router",
    "fit_validation_split",
    "load_bench_set",
    "pick_alpha",
    "quality_router",
    "score_rows",
    "task_average",
]

log = logging.getLogger("ir3de.bench")
ALPHAS = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0)  # the ridge penalties tried on validation


@dataclass(frozen=True)
class BenchSet:
    """One data set's splits and a featurizer that looks up their cached embeddings.

    Attributes:
        name: ``routerbench`` or ``routerdc``.
        train: the train split's scores and costs.
        test: the test split's.
        featurizer: returns the cached embedding of any train or test prompt.
        notes: one line per split: rows read and kept, data problems handled.
    """

    name: str
    train: CostTable
    test: CostTable
    featurizer: PrecomputedFeaturizer
    notes: list[str]


def load_bench_set(data: Path, name: str, cache: Path, featurizer: dict[str, Any]) -> BenchSet:
    """Read ``data/name`` (train and test), embed its prompts once, cached in `cache`."""
    tables, notes = [], []
    for split in ("train", "test"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the loader warns about dropped rows; counted below
            records = load_records([data / name], split=split)
        table, report = cost_table(records)
        problems = "; ".join(report.lines()) or "no problems"
        notes.append(f"{name}/{split}: {report.rows_in} rows read, {table.n} kept — {problems}")
        tables.append(table)
    train, test = tables
    encoder = cached(make_featurizer(featurizer), cache)
    log.info("embedding %s (%d prompts; cached in %s)", name, train.n + test.n, cache)
    x = embed_and_save(encoder, train.prompts, test.prompts)
    lookup = PrecomputedFeaturizer(train.prompts + test.prompts, np.vstack(x))
    return BenchSet(name, train, test, lookup, notes)


def score_rows(
    table: CostTable, values: NDArray[np.float64] | None = None
) -> list[dict[str, float]]:
    """`IR3DERouter.fit`'s y: one {expert: value} per prompt (scores by default; NaN left out)."""
    matrix = table.scores if values is None else values
    return [
        {e: float(v) for e, v in zip(table.experts, row, strict=True) if not np.isnan(v)}
        for row in matrix
    ]


def quality_router(
    table: CostTable, featurizer: Any, alpha: float, values: NDArray[np.float64] | None = None
) -> IR3DERouter:
    """A quality-mode ridge router fitted on `table` (or, with `values`, a per-expert regressor
    of those values, e.g. costs) with the hand-chosen `alpha`: one plain fit, nothing tuned."""
    router = IR3DERouter(
        featurizer, target="quality", alpha=alpha, missing_scores="ignore", safe_default=False
    )
    return router.fit(table.prompts, score_rows(table, values))


def default_router(table: CostTable, featurizer: Any) -> IR3DERouter:
    """What ``ir3de fit --target quality`` fits on records with scores and costs: the
    defaults, α chosen by the held-out AIQ of its own 5-fold cross-validation."""
    router = IR3DERouter(featurizer, target="quality")
    return router.fit(table.prompts, score_rows(table), costs=score_rows(table, table.costs))


def task_average(table: CostTable, choice: NDArray[np.intp]) -> float:
    """RouterDC's headline: the plain mean over tasks of the chosen experts' mean score, in %."""
    got = table.scores[np.arange(table.n), choice]
    tasks = np.asarray(table.tasks)
    return 100 * float(np.mean([got[tasks == t].mean() for t in sorted(set(table.tasks))]))


def accuracy(model: Any, table: CostTable) -> float:
    """`task_average` of the argmax of a quality model (its experts matched to the table's)."""
    quality = model.decision_function(table.prompts)
    picked = [table.experts.index(model.experts_[j]) for j in quality.argmax(axis=1)]
    return task_average(table, np.asarray(picked, dtype=np.intp))


def pick_alpha(
    train: CostTable,
    featurizer: Any,
    score: Callable[[IR3DERouter, CostTable, CostTable], float],
) -> tuple[float, dict[float, float]]:
    """The ridge penalty of `ALPHAS` whose router, fitted on three quarters of train, has the
    best ``score(router, those three quarters, the held-out quarter)``; also every score."""
    fit_part, val = fit_validation_split(train)
    scores = {a: score(quality_router(fit_part, featurizer, a), fit_part, val) for a in ALPHAS}
    return max(scores, key=lambda a: scores[a]), scores


def fit_validation_split(table: CostTable, seed: int = 0) -> tuple[CostTable, CostTable]:
    """Three quarters of `table` to fit on and one quarter to validate on (random, seeded)."""
    held = np.random.default_rng(seed).permutation(table.n)
    return table.rows(held[table.n // 4 :]), table.rows(held[: table.n // 4])
