"""LLMs never seen in training: random splits of the LLMs into seen (2/3) and unseen (1/3).

Seen LLMs use the full train split. Each unseen LLM is added from its scores on the same few
(≤ 200) train prompts: `IR3DERouter.add_expert` (its column of B from those prompts alone),
`UniRouteRouter.add_llm` (K-means clusters fitted once, never refitted) and
`KNNQualityRouter.add_expert`. The references are refitted on every train score of every LLM.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from ir3de_core.bench.costs.data import (
    BenchSet,
    accuracy,
    fit_validation_split,
    quality_router,
    task_average,
)
from ir3de_core.bench.costs.tables import Table
from ir3de_core.costs import KNNQualityRouter, UniRouteRouter
from ir3de_core.router import IR3DERouter
from ir3de_core.statistics import SufficientStatistics

__all__ = ["UnseenOptions", "sample_size_table", "unseen_table"]

log = logging.getLogger("ir3de.bench")
ALPHAS = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0)
REFERENCE = "(a) ridge refitted on full data"


@dataclass(frozen=True)
class UnseenOptions:
    """Settings of the protocol.

    Attributes:
        splits: random seen/unseen splits of the LLMs.
        n_prompts: scored prompts per unseen LLM.
        prompts_from: ``random`` train prompts, or round-robin over UniRoute's ``clusters``.
        n_clusters: K of UniRoute's K-means.
        seed: seed of the splits.
        sweep: numbers of scored prompts for the ridge router's sample-size sweep (empty: none).
    """

    splits: int = 20
    n_prompts: int = 200
    prompts_from: Literal["random", "clusters"] = "random"
    n_clusters: int = 20
    seed: int = 0
    sweep: tuple[int, ...] = (50, 100, 200, 400, 1000)


@dataclass(frozen=True)
class _Base:
    """What every split shares: the full-data statistics and UniRoute models, the prompts."""

    alpha: float
    statistics: SufficientStatistics
    prompts: NDArray[np.intp]
    uniroute: dict[str, UniRouteRouter]


def pick_alpha_by_accuracy(bench: BenchSet) -> tuple[float, dict[float, float]]:
    """The ridge penalty with the best average accuracy on a held-out quarter of train."""
    fit_part, val = fit_validation_split(bench.train)
    scores = {a: accuracy(quality_router(fit_part, bench.featurizer, a), val) for a in ALPHAS}
    return max(scores, key=lambda a: scores[a]), scores


def _one_split(
    bench: BenchSet, base: _Base, seen: list[str], unseen: list[str]
) -> dict[str, float]:
    train, featurizer = bench.train, bench.featurizer
    prompts = [train.prompts[i] for i in base.prompts]
    new_scores = {e: train.scores[base.prompts, train.experts.index(e)] for e in unseen}
    out: dict[str, float] = {}
    router = IR3DERouter(featurizer, target="quality", alpha=base.alpha, missing_scores="ignore")
    router.fit_statistics(base.statistics.select(seen))
    for e in unseen:
        router.add_expert(e, prompts, new_scores[e])
    out["ridge + add_expert"] = accuracy(router, bench.test)
    knn = KNNQualityRouter(featurizer, n_neighbors=10)
    knn.fit(train.prompts, train.columns(seen).scores, experts=seen)
    for e in unseen:
        knn.add_expert(e, prompts, new_scores[e])
    out["kNN k=10 + the same prompts"] = accuracy(knn, bench.test)
    for name, full in base.uniroute.items():
        uni = copy.copy(full)  # shares the clusters; remove/add replace (never mutate) arrays
        for e in unseen:
            uni.remove_llm(e)
        for e in unseen:
            uni.add_llm(e, prompts, new_scores[e])
        out[f"{name} + the same prompts"] = accuracy(uni, bench.test)
    return out


def unseen_table(bench: BenchSet, options: UnseenOptions) -> Table:
    """Mean, spread and range of the test accuracy over `options.splits` splits."""
    train, test, featurizer = bench.train, bench.test, bench.featurizer
    alpha, by_alpha = pick_alpha_by_accuracy(bench)
    full = quality_router(train, featurizer, alpha)
    uniroute = {
        f"UniRoute {a} (K={options.n_clusters})": UniRouteRouter(
            featurizer, n_clusters=options.n_clusters, assignment=a
        ).fit(train.prompts, train.scores, experts=train.experts)
        for a in ("hard", "soft")
    }
    if options.prompts_from == "clusters":
        prompts = next(iter(uniroute.values())).representatives(train.prompts, options.n_prompts)
    else:
        size = min(options.n_prompts, train.n)
        prompts = np.random.default_rng(1).choice(train.n, size=size, replace=False)
    base = _Base(alpha, full.statistics_, prompts, uniroute)
    knn = KNNQualityRouter(featurizer, n_neighbors=10)
    references: dict[str, Any] = {REFERENCE: full, "(b) kNN k=10 refitted on full data":
                                  knn.fit(train.prompts, train.scores, experts=train.experts)}  # fmt: skip
    references.update({f"{n}, all LLMs on full data": m for n, m in uniroute.items()})
    rows: list[list[Any]] = [
        [n, accuracy(m, test), None, None, None] for n, m in references.items()
    ]
    best = max(range(len(test.experts)), key=lambda j: task_average(test, np.full(test.n, j)))
    best_single = task_average(test, np.full(test.n, best))
    rows.append([f"best single LLM ({test.experts[best]}, on test)", best_single, None, None, None])
    results = _splits(bench, base, options)
    refit = rows[0][1]
    for name, values in results.items():
        v = np.asarray(values)
        rows.append([name, float(v.mean()), float(v.std()), f"{v.min():.2f}–{v.max():.2f}",
                     float(v.mean() - refit)])  # fmt: skip
    k_seen = round(2 * len(train.experts) / 3)
    return Table(
        f"{bench.name}: unseen LLMs over {options.splits} random splits ({k_seen} seen, "
        f"{len(train.experts) - k_seen} added from {len(prompts)} scored prompts each)",
        ["router", "avg accuracy %", "std over splits", "min–max", "vs refitted ridge"],
        rows,
        digits=2,
        notes=[
            *bench.notes,
            "validation accuracy by α: "
            + ", ".join(f"{a:g}: {v:.2f}" for a, v in by_alpha.items()),
            f"prompts of the unseen LLMs picked by: {options.prompts_from}",
        ],
    )


def _splits(bench: BenchSet, base: _Base, options: UnseenOptions) -> dict[str, list[float]]:
    experts = bench.train.experts
    k_seen = round(2 * len(experts) / 3)
    rng = np.random.default_rng(options.seed)
    results: dict[str, list[float]] = {}
    for split in range(options.splits):
        order = [experts[i] for i in rng.permutation(len(experts))]
        log.info("%s: split %d/%d", bench.name, split + 1, options.splits)
        for name, value in _one_split(bench, base, order[:k_seen], order[k_seen:]).items():
            results.setdefault(name, []).append(value)
    return results


def sample_size_table(bench: BenchSet, options: UnseenOptions) -> Table:
    """The ridge router's `add_expert` on the same splits with more or fewer scored prompts."""
    train = bench.train
    alpha, _ = pick_alpha_by_accuracy(bench)
    statistics = quality_router(train, bench.featurizer, alpha).statistics_
    refit = accuracy(quality_router(train, bench.featurizer, alpha), bench.test)
    k_seen = round(2 * len(train.experts) / 3)
    rows = []
    for n in options.sweep:
        picked = np.random.default_rng(1).choice(train.n, size=min(n, train.n), replace=False)
        prompts = [train.prompts[i] for i in picked]
        rng, values = np.random.default_rng(options.seed), []
        for _ in range(options.splits):
            order = [train.experts[i] for i in rng.permutation(len(train.experts))]
            router = IR3DERouter(bench.featurizer, target="quality", alpha=alpha)
            router.fit_statistics(statistics.select(order[:k_seen]))
            for e in order[k_seen:]:
                router.add_expert(e, prompts, train.scores[picked, train.experts.index(e)])
            values.append(accuracy(router, bench.test))
        v = np.asarray(values)
        rows.append([len(picked), float(v.mean()), float(v.std()), float(v.mean() - refit)])
    return Table(
        f"{bench.name}: ridge + add_expert against the number of scored prompts per new LLM "
        f"(same {options.splits} splits; refitted ridge {refit:.2f})",
        ["scored prompts", "avg accuracy %", "std over splits", "vs refitted ridge"],
        rows,
        digits=2,
    )
