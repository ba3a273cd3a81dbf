"""Leave-one-task-out: route prompts of a task the router never saw (a new domain).

For each task, every router is refitted with its already-chosen settings on the other tasks'
training prompts and scored on the held-out task's test prompts. References: the expected random
choice, the best single expert chosen on the other tasks, and the held-out task's own best
expert (what a router that knew the task would get).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmarks.routerdc import baselines
from benchmarks.routerdc.data import RoutingData, task_accuracy
from benchmarks.routerdc.variants import (
    Features,
    Variant,
    default_variants,
    fit_variant,
    route_columns,
)

__all__ = ["leave_one_task_out"]


def _accuracy(data: RoutingData, columns: np.ndarray) -> float:
    return task_accuracy(data, columns)["average"]


def _held_out(train: RoutingData, test: RoutingData, task: str) -> tuple[RoutingData, RoutingData]:
    return (
        train.subset(np.flatnonzero(train.tasks != task)),
        test.subset(np.flatnonzero(test.tasks == task)),
    )


def _reference_scores(train: RoutingData, test: RoutingData, task: str) -> dict[str, float]:
    rest, held = _held_out(train, test, task)
    own = baselines.task_oracle(train.subset(np.flatnonzero(train.tasks == task)))[task]
    return {
        "random (expected)": baselines.random_expected(held)["average"],
        "best single (chosen on the other tasks)": _accuracy(
            held, np.full(len(held), baselines.best_single(rest))
        ),
        "held-out task's own best expert (not attainable)": _accuracy(
            held, np.full(len(held), own)
        ),
    }


def leave_one_task_out(
    train: RoutingData,
    test: RoutingData,
    rows: Sequence[dict[str, Any]],
    features: Features,
    variants: Sequence[Variant] | None = None,
) -> dict[str, Any]:
    """Accuracy (%) on each held-out task's test prompts, per router.

    Args:
        train: the full training split.
        test: the full test split.
        rows: the quality table's rows (the chosen settings are read from them).
        features: the run's shared featurizers.
        variants: the IR3DE variants of the run (default: all of them).

    Returns:
        ``{"tasks": [...], "rows": [{"router", "tasks": {task: %}, "average"}], "sent_to":
        {router: {task: {domain: share}}}}``.
    """
    chosen = {row["router"]: row["params"] for row in rows}
    use_sentence = any(row["router"].startswith("kNN") for row in rows)
    table: dict[str, dict[str, float]] = {}
    sent_to: dict[str, dict[str, dict[str, float]]] = {}
    for task in test.task_names:
        rest, held = _held_out(train, test, task)
        for name, value in _reference_scores(train, test, task).items():
            table.setdefault(name, {})[task] = value
        if use_sentence:
            k = int(chosen["kNN on sentence embeddings"]["k"])
            embed = features.sentence.transform
            scores = baselines.knn_scores(embed(rest.prompts), rest.scores, embed(held.prompts), k)
            table.setdefault("kNN on sentence embeddings", {})[task] = _accuracy(
                held, scores.argmax(axis=1)
            )
        for variant in variants or default_variants(sentence=use_sentence):
            if variant.name not in chosen:
                continue
            router = fit_variant(variant, chosen[variant.name], rest, features)
            columns, domains = route_columns(router, held)
            table.setdefault(variant.name, {})[task] = _accuracy(held, columns)
            if domains is not None:
                counts = Counter(str(d) for d in domains)
                sent_to.setdefault(variant.name, {})[task] = {
                    d: round(100 * c / len(held), 1) for d, c in counts.most_common()
                }
    out_rows = [
        {"router": name, "tasks": values, "average": float(np.mean(list(values.values())))}
        for name, values in table.items()
    ]
    return {"tasks": test.task_names, "rows": out_rows, "sent_to": sent_to}
