"""The quality benchmark: RouterDC's table, every row computed in one run (train → test).

Hyper-parameters are chosen on validation data carved from the training split only; the test
split is touched once per router, after its settings are fixed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from benchmarks.common.features import embed_and_save
from benchmarks.routerdc import baselines
from benchmarks.routerdc.data import (
    RoutingData,
    load_routerdc_split,
    task_accuracy,
    validation_splits,
)
from benchmarks.routerdc.variants import (
    Features,
    Variant,
    default_variants,
    fit_variant,
    grid_points,
    quick,
    route_columns,
)
from ir3de_cli.evaluation import evaluate_choices

__all__ = ["QualityOptions", "Tuned", "run_quality", "self_tuned", "tune"]

logger = logging.getLogger("ir3de.bench")

Splits = list[tuple[RoutingData, RoutingData]]


@dataclass(frozen=True)
class QualityOptions:
    """Settings of one quality run.

    Attributes:
        data: the RouterDC directory (or its parent).
        limit: keep at most this many prompts per task and split (a smoke run); None keeps all.
        folds: 1 for a single validation split of `fraction`, else k-fold cross-validation.
        fraction: share of each training task held out for validation when ``folds=1``.
        seed: seed of the subsets and splits.
        sentence: run the routers and baselines that need sentence embeddings.
        loto: also measure leave-one-task-out generalisation.
        cache_dir: where sentence embeddings persist between runs (None: memory only).
        plots: directory for the confusion-matrix PNGs (None: no plots).
        progress: print progress lines to stderr.
        quick: try only the first value of each grid (smoke runs; nothing is tuned).
    """

    data: Path
    limit: int | None = None
    folds: int = 1
    fraction: float = 0.2
    seed: int = 0
    sentence: bool = True
    loto: bool = True
    cache_dir: Path | None = None
    plots: Path | None = None
    progress: bool = True
    quick: bool = False


@dataclass(frozen=True)
class Tuned:
    """The chosen settings of one router and the validation average (%) of every candidate."""

    params: dict[str, Any]
    validation: float | None
    grid: list[tuple[dict[str, Any], float]]


def tune(
    candidates: Sequence[dict[str, Any]],
    splits: Splits,
    score: Callable[[dict[str, Any], RoutingData, RoutingData], NDArray[np.intp]],
) -> Tuned:
    """Pick the candidate with the best mean validation average (ties: the earliest candidate).

    Args:
        candidates: settings to try.
        splits: (fit, validation) pairs carved from train.
        score: (settings, fit, validation) → chosen expert column per validation prompt.
    """
    grid = []
    for params in candidates:
        values = [task_accuracy(val, score(params, fit, val))["average"] for fit, val in splits]
        grid.append((params, float(np.mean(values))))
    best = max(grid, key=lambda item: item[1])
    return Tuned(best[0], best[1], grid)


def self_tuned(router: Any) -> dict[str, Any]:
    """What a defaults router chose by its own cross-validation (for the settings table)."""
    results = getattr(router, "cv_results_", None)
    if results is None:
        return {}
    alpha = results["alpha"]
    out: dict[str, Any] = {"alpha": "∞ (no signal)" if alpha == float("inf") else f"{alpha:.3g}"}
    out["aggregation"] = results["aggregation"]
    if results["threshold"] is not None:
        out["safe default below"] = f"{results['threshold']:.3g}"
    return out


def _log(options: QualityOptions, message: str) -> None:
    if options.progress:
        logger.info(message)


def _row(
    name: str,
    kind: str,
    result: dict[str, float],
    *,
    params: dict[str, Any] | None = None,
    validation: float | None = None,
    seconds: float | None = None,
) -> dict[str, Any]:
    tasks = {k: v for k, v in result.items() if k != "average"}
    return {
        "router": name,
        "kind": kind,
        "tasks": tasks,
        "average": result["average"],
        "params": params or {},
        "validation": validation,
        "fit_seconds": seconds,
    }


def reference_rows(train: RoutingData, test: RoutingData) -> list[dict[str, Any]]:
    """Random, best single (chosen on train), task oracle (chosen on train), per-query oracle,
    and RouterDC's quoted row."""
    single = baselines.best_single(train)
    oracle = baselines.task_oracle(train)
    by_task = np.array([oracle[t] for t in test.tasks])
    return [
        _row("random (expected)", "reference", baselines.random_expected(test)),
        _row(
            f"best single ({test.experts[single]})",
            "reference",
            task_accuracy(test, np.full(len(test), single)),
        ),
        _row(
            "task oracle (chosen on train)",
            "reference",
            task_accuracy(test, by_task),
            params={t: test.experts[j] for t, j in oracle.items()},
        ),
        _row(
            "per-query oracle", "reference", task_accuracy(test, baselines.per_query_oracle(test))
        ),
        _row("RouterDC (quoted from its paper, not run)", "quoted", baselines.ROUTERDC_QUOTED),
    ]


def baseline_rows(
    train: RoutingData, test: RoutingData, splits: Splits, features: Features, *, quick: bool
) -> list[dict[str, Any]]:
    """kNN, logistic regression and MLP on sentence embeddings, each tuned on `splits`."""
    embed = features.sentence.transform
    specs: list[tuple[str, str, list[Any], Callable[..., NDArray[np.float64]]]] = [
        ("kNN on sentence embeddings", "k", [5, 10, 20, 50, 100], baselines.knn_scores),
        ("logistic regression on sentence embeddings", "C", [0.1, 1.0, 10.0],
         baselines.logistic_scores),
        ("MLP on sentence embeddings", "hidden", [64, 256], baselines.mlp_scores),
    ]  # fmt: skip
    rows = []
    for name, key, values, scorer in specs:

        def score(p: dict[str, Any], fit: RoutingData, val: RoutingData) -> NDArray[np.intp]:
            predicted = scorer(embed(fit.prompts), fit.scores, embed(val.prompts), p[key])  # noqa: B023
            return np.asarray(predicted.argmax(axis=1))

        tuned = tune([{key: v} for v in (values[:1] if quick else values)], splits, score)
        start = time.perf_counter()
        columns = score(tuned.params, train, test)
        seconds = time.perf_counter() - start
        rows.append(
            _row(name, "baseline", task_accuracy(test, columns), params=tuned.params,
                 validation=tuned.validation, seconds=seconds)
        )  # fmt: skip
    return rows


def variant_row(
    variant: Variant,
    train: RoutingData,
    test: RoutingData,
    splits: Splits,
    features: Features,
    task_oracle_average: float,
) -> dict[str, Any]:
    """Tune one IR3DE variant on `splits` (a defaults row: nothing), refit on all of train,
    evaluate once on test."""

    def score(p: dict[str, Any], fit: RoutingData, val: RoutingData) -> NDArray[np.intp]:
        return route_columns(fit_variant(variant, p, fit, features), val)[0]

    tuned = Tuned({}, None, [])
    if not variant.defaults:
        tuned = tune(list(grid_points(variant.grid)), splits, score)
    start = time.perf_counter()
    router = fit_variant(variant, tuned.params, train, features)
    seconds = time.perf_counter() - start
    if variant.defaults:
        tuned = Tuned(self_tuned(router), None, [])
    columns, domains = route_columns(router, test)
    evaluation = evaluate_choices(
        test.records, [test.experts[j] for j in columns], None if domains is None else list(domains)
    )
    result = {t: evaluation.tasks[t]["accuracy"] for t in test.task_names}
    result["average"] = float(evaluation.average_accuracy or 0.0)
    kind = "defaults" if variant.defaults else "ir3de+" if variant.new else "ir3de"
    row = _row(variant.name, kind, result, params=tuned.params,
               validation=tuned.validation, seconds=seconds)  # fmt: skip
    row["grid"] = [{"params": p, "validation": v} for p, v in tuned.grid]
    if evaluation.routing_accuracy is not None and evaluation.average_accuracy:
        row["domain"] = {
            "routing_accuracy": evaluation.routing_accuracy,
            "normalized_routing_accuracy": evaluation.normalized_routing_accuracy,
            "normalized_performance": 100 * result["average"] / task_oracle_average,
            "confusion": evaluation.confusion,
        }
    return row


def run_quality(
    options: QualityOptions, variants: Sequence[Variant] | None = None
) -> dict[str, Any]:
    """Run the whole quality benchmark; returns a JSON-serialisable result."""
    started = time.perf_counter()
    train = load_routerdc_split(options.data, "train", limit=options.limit, seed=options.seed)
    test = load_routerdc_split(options.data, "test", limit=options.limit, seed=options.seed)
    splits = validation_splits(train, folds=options.folds, fraction=options.fraction,
                               seed=options.seed)  # fmt: skip
    features = Features(options.cache_dir)
    rows = reference_rows(train, test)
    task_oracle_average = float(rows[2]["average"])
    timings: dict[str, float] = {}
    if options.sentence:
        _log(options, f"embedding {len(train) + len(test)} prompts with the sentence encoder")
        start = time.perf_counter()
        embed_and_save(features.sentence, train.prompts + test.prompts)
        timings["sentence_embedding_seconds"] = time.perf_counter() - start
        _log(options, "baselines (kNN, logistic regression, MLP)")
        rows += baseline_rows(train, test, splits, features, quick=options.quick)
    if variants is None:
        variants = default_variants(sentence=options.sentence)
        variants = [quick(v) for v in variants] if options.quick else variants
    for variant in variants:
        _log(options, variant.name)
        rows.append(variant_row(variant, train, test, splits, features, task_oracle_average))
    result: dict[str, Any] = {
        "train_size": len(train), "test_size": len(test), "tasks": test.task_names,
        "experts": list(test.experts), "folds": options.folds, "limit": options.limit,
        "rows": rows, "timings": timings,
    }  # fmt: skip
    if options.loto:
        from benchmarks.routerdc.loto import leave_one_task_out

        _log(options, "leave-one-task-out")
        result["leave_one_task_out"] = leave_one_task_out(train, test, rows, features, variants)
    if options.plots is not None:
        from benchmarks.common.plots import save_confusion_plots

        result["plots"] = save_confusion_plots(rows, options.plots)
    timings["total_seconds"] = time.perf_counter() - started
    return result
