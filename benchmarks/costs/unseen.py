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

from benchmarks.common.baselines import KNNQualityRouter
from benchmarks.costs.data import (
    BenchSet,
    accuracy,
    pick_alpha,
    quality_router,
    task_average,
)
from benchmarks.costs.tables import Table
from ir3de_core.decide.uniroute import UniRouteRouter
from ir3de_core.router import IR3DERouter

__all__ = [
    "RidgeReference",
    "UnseenOptions",
    "ridge_reference",
    "sample_size_table",
    "unseen_table",
]

log = logging.getLogger("ir3de.bench")
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
    """What every split shares: the refitted ridge, the UniRoute models, the scored prompts."""

    reference: RidgeReference
    prompts: NDArray[np.intp]
    uniroute: dict[str, UniRouteRouter]


@dataclass(frozen=True)
class RidgeReference:
    """The ridge router refitted on every train score, with α chosen by validation accuracy.

    Attributes:
        alpha: the chosen penalty.
        by_alpha: validation accuracy (%) of every penalty tried.
        router: the router fitted on the full train split with `alpha`.
        accuracy: its test accuracy (%), the number the protocol compares against.
    """

    alpha: float
    by_alpha: dict[float, float]
    router: IR3DERouter
    accuracy: float


def ridge_reference(bench: BenchSet) -> RidgeReference:
    """Choose α on a held-out quarter of train, refit on all of train, score on test."""
    alpha, by_alpha = pick_alpha(
        bench.train, bench.featurizer, lambda router, _, val: accuracy(router, val)
    )
    router = quality_router(bench.train, bench.featurizer, alpha)
    return RidgeReference(alpha, by_alpha, router, accuracy(router, bench.test))


def _ridge_with_added(
    bench: BenchSet,
    reference: RidgeReference,
    seen: list[str],
    unseen: list[str],
    picked: NDArray[np.intp],
) -> IR3DERouter:
    """The seen LLMs from the full statistics, each unseen one added from the `picked` prompts."""
    train = bench.train
    router = IR3DERouter(bench.featurizer, target="quality", alpha=reference.alpha,
                         missing_scores="ignore")  # fmt: skip
    router.fit_statistics(reference.router.statistics_.select(seen))
    prompts = [train.prompts[i] for i in picked]
    for e in unseen:
        router.add_expert(e, prompts, train.scores[picked, train.experts.index(e)])
    return router


def _llm_splits(
    experts: tuple[str, ...], options: UnseenOptions
) -> list[tuple[list[str], list[str]]]:
    """`options.splits` random (seen, unseen) splits: 2/3 of the LLMs seen."""
    k_seen = round(2 * len(experts) / 3)
    rng = np.random.default_rng(options.seed)
    orders = [[experts[i] for i in rng.permutation(len(experts))] for _ in range(options.splits)]
    return [(order[:k_seen], order[k_seen:]) for order in orders]


def _one_split(
    bench: BenchSet, base: _Base, seen: list[str], unseen: list[str]
) -> dict[str, float]:
    train, featurizer = bench.train, bench.featurizer
    prompts = [train.prompts[i] for i in base.prompts]
    new_scores = {e: train.scores[base.prompts, train.experts.index(e)] for e in unseen}
    router = _ridge_with_added(bench, base.reference, seen, unseen, base.prompts)
    out = {"ridge + add_expert": accuracy(router, bench.test)}
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


def unseen_table(bench: BenchSet, options: UnseenOptions, reference: RidgeReference) -> Table:
    """Mean, spread and range of the test accuracy over `options.splits` splits."""
    train, test, featurizer = bench.train, bench.test, bench.featurizer
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
    base = _Base(reference, prompts, uniroute)
    knn = KNNQualityRouter(featurizer, n_neighbors=10)
    references: dict[str, Any] = {REFERENCE: reference.router, "(b) kNN k=10 refitted on full data":
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
            + ", ".join(f"{a:g}: {v:.2f}" for a, v in reference.by_alpha.items()),
            f"prompts of the unseen LLMs picked by: {options.prompts_from}",
        ],
    )


def _splits(bench: BenchSet, base: _Base, options: UnseenOptions) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {}
    splits = _llm_splits(bench.train.experts, options)
    for number, (seen, unseen) in enumerate(splits, start=1):
        log.info("%s: split %d/%d", bench.name, number, options.splits)
        for name, value in _one_split(bench, base, seen, unseen).items():
            results.setdefault(name, []).append(value)
    return results


def sample_size_table(bench: BenchSet, options: UnseenOptions, reference: RidgeReference) -> Table:
    """The ridge router's `add_expert` on the same splits with more or fewer scored prompts."""
    train, refit = bench.train, reference.accuracy
    rows = []
    for n in options.sweep:
        picked = np.random.default_rng(1).choice(train.n, size=min(n, train.n), replace=False)
        v = np.asarray([
            accuracy(_ridge_with_added(bench, reference, seen, unseen, picked), bench.test)
            for seen, unseen in _llm_splits(train.experts, options)
        ])  # fmt: skip
        rows.append([len(picked), float(v.mean()), float(v.std()), float(v.mean() - refit)])
    return Table(
        f"{bench.name}: ridge + add_expert against the number of scored prompts per new LLM "
        f"(same {options.splits} splits; refitted ridge {refit:.2f})",
        ["scored prompts", "avg accuracy %", "std over splits", "vs refitted ridge"],
        rows,
        digits=2,
    )
