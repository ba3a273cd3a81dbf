"""Online feedback: replay a train split as production traffic through `partial_fit`.

A ridge router is fitted on a small seed of fully scored prompts. The rest of the train split
then arrives one prompt at a time: the router picks an LLM (by quality − λ·cost where prices are
known, ε-greedy), only that LLM's score is revealed, and ``partial_fit([prompt], [{llm: score}])``
folds it in (rank-one updates). Held-out test metrics are tracked as events arrive.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from benchmarks.common.feedback import replay_feedback
from benchmarks.costs.data import BenchSet, accuracy, quality_router
from benchmarks.costs.frontier import COST_ALPHA, GPT4, lambda_curve
from benchmarks.costs.tables import Table
from ir3de_core.data import CostTable
from ir3de_core.decide.calibration import calibrate_budget, choose
from ir3de_core.decide.metrics import aiq, hull_quality_at
from ir3de_core.ridge.solver import solve_statistics
from ir3de_core.router import IR3DERouter

__all__ = ["FeedbackOptions", "feedback_table"]

FloatArray = NDArray[np.float64]
BUDGET_SHARES = (0.3, 0.5)  # test quality read off the λ curve's hull at these shares of GPT-4


@dataclass(frozen=True)
class FeedbackOptions:
    """Settings of the replay.

    Attributes:
        seed_prompts: fully scored train prompts the router starts from.
        checkpoints: how many times the held-out metrics are measured along the stream.
        explore: probability of asking a random LLM instead of the chosen one.
        alpha: the ridge penalty.
        budget_share: with prices, λ is calibrated on the seed for this share of GPT-4's cost.
        seed: order of the stream and exploration.
    """

    seed_prompts: int = 50
    checkpoints: int = 8
    explore: float = 0.1
    alpha: float = 10.0
    budget_share: float = 0.5
    seed: int = 0


@dataclass(frozen=True)
class _Prices:
    """Estimated per-query costs (a ridge regression on the train costs) and the policy's λ."""

    stream: FloatArray
    test: FloatArray
    lam: float
    cost_range: tuple[float, float]
    gpt4_cost: float


def feedback_table(bench: BenchSet, options: FeedbackOptions) -> Table:
    """The held-out metrics after 0, …, all feedback events, and the full-information fit."""
    train, test = bench.train, bench.test
    order = np.random.default_rng(options.seed).permutation(train.n)
    seed, stream = (
        train.rows(order[: options.seed_prompts]),
        train.rows(order[options.seed_prompts :]),
    )
    router = quality_router(seed, bench.featurizer, options.alpha)
    if router.experts_ != train.experts:
        msg = f"router experts {router.experts_} != data experts {train.experts}"
        raise RuntimeError(msg)
    prices = _prices(bench, seed, stream, router, options) if GPT4 in train.experts else None
    evaluate = _metrics(router, test, prices)

    def update(i: int, j: int, score: float) -> None:
        router.partial_fit([stream.prompts[i]], [{stream.experts[j]: score}])

    def route(index: NDArray[np.intp]) -> NDArray[np.intp]:
        quality = router.decision_function([stream.prompts[i] for i in index])
        if prices is None:
            return choose(quality)
        return choose(quality, prices.stream[index], prices.lam)

    history: list[list[float]] = []

    def tracked() -> float:
        history.append(evaluate())
        return history[-1][0]

    steps = replay_feedback(
        update, route, stream.scores, tracked,
        every=max(1, -(-stream.n // options.checkpoints)), explore=options.explore, seed=options.seed,
    )  # fmt: skip
    rows: list[list[object]] = [
        [step.events, *metrics, None if step.events == 0 else 1000 * step.seconds]
        for step, metrics in zip(steps, history, strict=True)
    ]
    full = quality_router(train.rows(order), bench.featurizer, options.alpha)
    rows.append(["full information (every score of every prompt)",
                 *_metrics(full, test, prices)(), None])  # fmt: skip
    return Table(
        f"{bench.name}: online feedback replay ({options.seed_prompts} seed prompts, then "
        f"{stream.n} events of bandit feedback, ε = {options.explore})",
        ["feedback events", *_metric_names(prices), "ms per partial_fit (running mean)"],
        rows,
        notes=_notes(router, options, prices),
    )


def _prices(
    bench: BenchSet,
    seed: CostTable,
    stream: CostTable,
    router: IR3DERouter,
    options: FeedbackOptions,
) -> _Prices:
    """Per-query cost estimates from the train costs (prices are known, not feedback) and λ
    calibrated on the seed prompts for `budget_share` of GPT-4's mean cost."""
    cost_model = quality_router(bench.train, bench.featurizer, COST_ALPHA, values=bench.train.costs)
    seed_cost = cost_model.decision_function(seed.prompts)
    gpt4 = bench.train.experts.index(GPT4)
    budget = options.budget_share * float(bench.train.costs[:, gpt4].mean())
    point = calibrate_budget(router.decision_function(seed.prompts), seed_cost, budget)
    singles = bench.test.costs.mean(axis=0)
    return _Prices(
        cost_model.decision_function(stream.prompts),
        cost_model.decision_function(bench.test.prompts),
        point.lam,
        (float(singles.min()), float(singles.max())),
        float(singles[bench.test.experts.index(GPT4)]),
    )


def _metric_names(prices: _Prices | None) -> list[str]:
    if prices is None:
        return ["test accuracy (avg %)"]
    return [
        "test AIQ",
        *(f"test quality at {100 * b:.0f} % of GPT-4's cost" for b in BUDGET_SHARES),
    ]


def _metrics(
    router: IR3DERouter, test: CostTable, prices: _Prices | None
) -> Callable[[], list[float]]:
    """The held-out metrics of the router's current state."""

    def evaluate() -> list[float]:
        if prices is None:
            return [accuracy(router, test)]
        curve = lambda_curve(router.decision_function(test.prompts), prices.test, test)
        budgets = [share * prices.gpt4_cost for share in BUDGET_SHARES]
        return [aiq(*curve, cost_range=prices.cost_range),
                *hull_quality_at(*curve, budgets).tolist()]  # fmt: skip

    return evaluate


def _notes(router: IR3DERouter, options: FeedbackOptions, prices: _Prices | None) -> list[str]:
    start = time.perf_counter()
    solve_statistics(router.statistics_, alpha=options.alpha, intercept="centered")
    resolve = 1000 * (time.perf_counter() - start)
    k, d = len(router.experts_), router.n_features_in_
    notes = [
        f"α = {options.alpha:g}; a full re-solve of the final statistics ({k} systems of "
        f"d = {d}, what every event cost before rank-one updates) takes {resolve:.1f} ms",
    ]
    if prices is not None:
        notes.append(
            f"the stream is routed by quality − λ·estimated cost with λ = {prices.lam:.4g}, "
            f"calibrated on the seed prompts for {100 * options.budget_share:.0f} % of GPT-4's "
            "mean train cost; test AIQ over the cheapest to the dearest single LLM on test; "
            "the budget columns read the λ curve's hull on test"
        )
    return notes
