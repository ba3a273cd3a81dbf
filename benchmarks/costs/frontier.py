"""RouterBench cost–quality: λ curves, AIQ, the cost of GPT-4's quality, cascades, budgets."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from benchmarks.common.baselines import KNNQualityRouter, MLPQualityRouter
from benchmarks.common.plots import plot_cost_quality
from benchmarks.costs.bootstrap import (
    Choices,
    aiq_difference,
    lambda_choices,
    single_choices,
)
from benchmarks.costs.data import (
    BenchSet,
    default_router,
    fit_validation_split,
    pick_alpha,
    quality_router,
)
from benchmarks.costs.tables import Table
from ir3de_core.data import CostTable
from ir3de_core.decide.calibration import calibrate_budget, choose
from ir3de_core.decide.cascade import Cascade, cascade_order
from ir3de_core.decide.metrics import aiq, apgr, cost_to_reach, cpt
from ir3de_core.router import IR3DERouter

__all__ = [
    "GPT4",
    "Curve",
    "curve_of",
    "frontier_tables",
    "lambda_curve",
    "pick_alpha_by_aiq",
]

log = logging.getLogger("ir3de.bench")
GPT4, WEAK = "gpt-4-1106-preview", "mistralai/mixtral-8x7b-chat"
COST_ALPHA = 0.1  # the per-query cost regression: costs are smooth in the prompt's length
Curve = tuple[list[float], list[float]]  # (costs, qualities) of a router's operating points
FloatArray = NDArray[np.float64]


def lambda_curve(quality: FloatArray, estimated_cost: FloatArray, table: CostTable) -> Curve:
    """Realised (cost, quality) on `table` of argmax(quality − λ·estimated cost) over λ."""
    return curve_of(lambda_choices(quality, estimated_cost), table)


def curve_of(choices: Choices, table: CostTable) -> Curve:
    """Mean realised cost and quality of each operating point (choices: (n_points, n))."""
    rows = np.arange(table.n)
    costs = table.costs[rows, choices].mean(axis=1)
    return costs.tolist(), table.scores[rows, choices].mean(axis=1).tolist()


def pick_alpha_by_aiq(train: CostTable, featurizer: Any) -> tuple[float, dict[float, float]]:
    """The ridge penalty with the best AIQ on a held-out quarter of train (mean train costs)."""

    def validation_aiq(router: IR3DERouter, fit_part: CostTable, val: CostTable) -> float:
        flat_cost = np.tile(fit_part.costs.mean(axis=0), (val.n, 1))
        return aiq(*lambda_curve(router.decision_function(val.prompts), flat_cost, val))

    return pick_alpha(train, featurizer, validation_aiq)


def predictors(bench: BenchSet, alpha: float) -> dict[str, Any]:
    """The quality predictors compared, all fitted on the train split."""
    train, featurizer = bench.train, bench.featurizer
    ridge = quality_router(train, featurizer, alpha)
    models: dict[str, Any] = {f"ridge, quality mode (α={alpha:g})": ridge}
    defaults = default_router(train, featurizer)
    models[f"ridge, defaults (α={_alpha_label(defaults)} by its own CV)"] = defaults
    for k in (5, 10, 40):
        models[f"kNN k={k}"] = KNNQualityRouter(featurizer, n_neighbors=k).fit(
            train.prompts, train.scores, experts=train.experts
        )
    models["MLP (128 hidden)"] = MLPQualityRouter(featurizer).fit(
        train.prompts, train.scores, experts=train.experts
    )
    return models


def _alpha_label(router: IR3DERouter) -> str:
    return "∞, no signal" if router.alpha_ == float("inf") else f"{router.alpha_:.3g}"


def frontier_chain(train: CostTable) -> list[int]:
    """The LLMs on the train split's cost–quality frontier, cheapest first (a cascade's order)."""
    mean_cost, mean_q = train.costs.mean(axis=0), train.scores.mean(axis=0)
    return [
        j for j in cascade_order(mean_cost) if mean_q[j] >= mean_q[mean_cost <= mean_cost[j]].max()
    ]


def cascade_curves(train: CostTable, test: CostTable, quality: FloatArray) -> dict[str, Curve]:
    """Cascades over the frontier chain for thresholds in [0, 1]: on the ridge router's
    predicted quality, and with an oracle verifier (an upper bound no deployment has)."""
    order = frontier_chain(train)
    out: dict[str, Curve] = {"cascade on ridge's predicted quality": ([], []),
                             "cascade with an oracle verifier (bound)": ([], [])}  # fmt: skip
    for threshold in np.linspace(0.0, 1.0, 41):
        cascade = Cascade(order=order, threshold=float(threshold))
        runs = zip(out.values(), (quality, test.scores), strict=True)
        for (costs, qualities), scores in runs:
            result = cascade.run(test.costs, quality=scores)
            costs.append(result.average_cost)
            qualities.append(result.quality(test.scores))
    return out


def frontier_tables(
    bench: BenchSet, out_dir: Path
) -> tuple[list[Table], dict[str, FloatArray], FloatArray]:
    """The RouterBench tables (frontier/AIQ, budgets, two-model metrics); draws the PNG.

    Returns:
        the tables, each predictor's test quality (n_test, k), and the estimated test costs.
    """
    train, test, featurizer = bench.train, bench.test, bench.featurizer
    alpha, by_alpha = pick_alpha_by_aiq(train, featurizer)
    log.info("validation AIQ by alpha: %s", by_alpha)
    cost_model = quality_router(train, featurizer, COST_ALPHA, values=train.costs)
    estimated = cost_model.decision_function(test.prompts)  # never the test costs themselves
    single = {
        e: (float(test.costs[:, j].mean()), float(test.scores[:, j].mean()))
        for j, e in enumerate(test.experts)
    }
    cost_range = (min(c for c, _ in single.values()), max(c for c, _ in single.values()))
    curves: dict[str, Curve] = {
        "zero router (best mix of single LLMs)": (
            [c for c, _ in single.values()],
            [q for _, q in single.values()],
        )
    }
    qualities, choices = {}, {next(iter(curves)): single_choices(test.n, len(test.experts))}
    for name, model in predictors(bench, alpha).items():
        qualities[name] = model.decision_function(test.prompts)
        choices[name] = lambda_choices(qualities[name], estimated)
        curves[name] = curve_of(choices[name], test)
    ridge_name = next(iter(qualities))
    curves.update(cascade_curves(train, test, qualities[ridge_name]))
    curves["per-query oracle"] = lambda_curve(test.scores, test.costs, test)
    gpt4_cost, gpt4_quality = single[GPT4]
    rows = []
    for name, (c, q) in curves.items():
        reach = cost_to_reach(c, q, gpt4_quality)
        share = None if reach is None else 100 * reach / gpt4_cost
        rows.append([name, aiq(c, q, cost_range=cost_range), max(q), reach, share])
    png = plot_cost_quality(
        curves, out_dir / "routerbench_cost_quality.png",
        title="RouterBench (winogrande + mbpp), test", markers=single,
    )  # fmt: skip
    chain = " → ".join(train.experts[j] for j in frontier_chain(train))
    frontier = Table(
        "RouterBench cost–quality (train → test)",
        ["router", "AIQ", "best quality", "USD/query at GPT-4 quality", "% of GPT-4 cost"],
        rows,
        notes=[
            *bench.notes,
            "validation AIQ by α: " + ", ".join(f"{a:g}: {v:.4f}" for a, v in by_alpha.items()),
            f"GPT-4 alone: quality {gpt4_quality:.4f} at {gpt4_cost:.6f} USD/query; AIQ over "
            f"[{cost_range[0]:.2e}, {cost_range[1]:.2e}] USD/query",
            f"cascade chain: {chain}",
            f"curves: {png}",
        ],
    )
    tables = [
        frontier,
        significance_table(choices, test, cost_range),
        budget_table(bench, alpha, estimated, gpt4_cost),
        two_model_table(test, qualities),
    ]
    return tables, qualities, estimated


def significance_table(
    choices: dict[str, Choices], test: CostTable, cost_range: tuple[float, float]
) -> Table:
    """AIQ of each ridge router (hand-tuned, then defaults) minus every other router's, with
    paired-bootstrap intervals."""
    names = list(choices)
    ridges = [n for n in names if n.startswith("ridge")]
    rows = []
    for i, ridge in enumerate(ridges):
        for other in names:
            if other == ridge or other in ridges[:i]:  # each pair of ridge routers once
                continue
            diff, low, high = aiq_difference(choices[ridge], choices[other], test, cost_range)
            rows.append([ridge, other, diff, low, high, "yes" if low > 0 else "no"])
    return Table(
        "AIQ of each ridge router minus each other router's: 95 % paired bootstrap over the test "
        "prompts (1,000 resamples)",
        [
            "ridge router",
            "other router",
            "AIQ difference",
            "2.5 %",
            "97.5 %",
            "better beyond noise",
        ],
        rows,
    )


def budget_table(bench: BenchSet, alpha: float, estimated: FloatArray, gpt4_cost: float) -> Table:
    """λ calibrated by bisection on a held-out quarter of train for budgets, applied to test."""
    fit_part, calibration = fit_validation_split(bench.train, seed=1)
    models = {
        f"α={alpha:g}": quality_router(fit_part, bench.featurizer, alpha),
        "defaults": default_router(fit_part, bench.featurizer),
    }
    cost_model = quality_router(fit_part, bench.featurizer, COST_ALPHA, values=fit_part.costs)
    calibration_cost = cost_model.decision_function(calibration.prompts)
    test, rows = bench.test, []
    for name, model in models.items():
        calibration_quality = model.decision_function(calibration.prompts)
        test_quality = model.decision_function(test.prompts)
        for share in (0.1, 0.3, 0.5):
            budget = share * gpt4_cost
            point = calibrate_budget(
                calibration_quality, calibration_cost, budget, scores=calibration.scores
            )
            picked = choose(test_quality, estimated, point.lam)
            realised = test.costs[np.arange(test.n), picked]
            rows.append([name, f"{100 * share:.0f}% of GPT-4", budget, f"{point.lam:.4g}",
                         point.cost, float(realised.mean()),
                         float(test.scores[np.arange(test.n), picked].mean())])  # fmt: skip
    return Table(
        "Budgets: λ by bisection on a held-out quarter of train, applied to test",
        ["router", "budget", "USD/query", "λ", "calibration cost", "test cost", "test quality"],
        rows,
        digits=6,
    )


def two_model_table(test: CostTable, qualities: dict[str, FloatArray]) -> Table:
    """RouteLLM's setting: GPT-4 (strong) against Mixtral-8x7B (weak)."""
    s, w = test.experts.index(GPT4), test.experts.index(WEAK)
    rows = []
    random = np.random.default_rng(0).random(test.scores.shape)
    for name, q in {**qualities, "random": random}.items():
        args = (q[:, s] - q[:, w], test.scores[:, s], test.scores[:, w])
        rows.append([name, apgr(*args), 100 * cpt(*args, 0.5), 100 * cpt(*args, 0.8)])
    return Table(
        f"Two-model routing, strong {GPT4} vs weak {WEAK} (test)",
        ["router", "APGR", "CPT(50%) % strong calls", "CPT(80%) % strong calls"],
        rows,
        digits=3,
    )
