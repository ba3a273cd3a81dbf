"""Timing expert updates: add and remove an expert (or domain) versus a fresh fit."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.common.hybrid import DomainQualityRouter
from benchmarks.routerdc.data import RoutingData
from ir3de_core.router import IR3DERouter

__all__ = ["expert_update_rows"]


def _ms(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return 1000 * (time.perf_counter() - start)


def _named(data: RoutingData, columns: list[int]) -> list[dict[str, float]]:
    return [{data.experts[j]: float(row[j]) for j in columns} for row in data.scores]


def _quality_row(data: RoutingData, repeats: int) -> dict[str, Any]:
    """Quality mode on mean token embeddings (d = 384): add / remove the last expert."""
    k = len(data.experts)
    new, new_scores = data.experts[-1], data.scores[:, -1]

    def router() -> IR3DERouter:
        return IR3DERouter("tokens", target="quality", aggregation="pooled", alpha=1.0)

    base = router().fit(data.prompts, _named(data, list(range(k - 1))))
    add, remove = [], []
    for _ in range(repeats):
        add.append(_ms(lambda: base.add_expert(new, data.prompts, new_scores)))
        remove.append(_ms(lambda: base.remove_expert(new)))
    fresh = router()
    fresh_ms = _ms(lambda: fresh.fit(data.prompts, _named(data, list(range(k)))))
    base.add_expert(new, data.prompts, new_scores)
    diff = float(np.abs(base.coef_ - fresh.coef_).max())
    return {"router": "IR3DE tokens(pooled)+quality: add/remove an expert",
            "d": base.n_features_in_, "add_ms": float(np.median(add)),
            "remove_ms": float(np.median(remove)), "fresh_fit_ms": fresh_ms,
            "max_coef_diff": diff}  # fmt: skip


def _domain_row(data: RoutingData, repeats: int) -> dict[str, Any]:
    """Domain mode on tokens (vote): add / remove the last task as a new domain."""
    task = data.task_names[-1]
    rest = np.flatnonzero(data.tasks != task)
    new = [data.prompts[i] for i in np.flatnonzero(data.tasks == task)]
    base = IR3DERouter("tokens", alpha=1.0)
    base.fit([data.prompts[i] for i in rest], data.tasks[rest].tolist())
    add, remove = [], []
    for _ in range(repeats):
        add.append(_ms(lambda: base.add_expert(task, new)))
        remove.append(_ms(lambda: base.remove_expert(task)))
    fresh = IR3DERouter("tokens", alpha=1.0)
    prompts = [data.prompts[i] for i in rest] + new
    labels = data.tasks[rest].tolist() + [task] * len(new)
    fresh_ms = _ms(lambda: fresh.fit(prompts, labels))
    base.add_expert(task, new)
    order = [base.groups_.index(g) for g in fresh.groups_]
    diff = float(np.abs(base.coef_[:, order] - fresh.coef_).max())
    return {"router": f"IR3DE tokens+domain: add/remove a domain ({task})",
            "d": base.n_features_in_, "add_ms": float(np.median(add)),
            "remove_ms": float(np.median(remove)), "fresh_fit_ms": fresh_ms,
            "max_coef_diff": diff}  # fmt: skip


def _hybrid_row(data: RoutingData, repeats: int) -> dict[str, Any]:
    """The domain × quality router (tokens, d = 384): add / remove the last expert."""
    k = len(data.experts)
    new = data.experts[-1]
    labels = data.tasks.tolist()

    def router() -> DomainQualityRouter:
        return DomainQualityRouter(alpha=1.0)

    base = router().fit(data.prompts, labels, data.scores[:, : k - 1], experts=data.experts[:-1])
    add, remove = [], []
    for _ in range(repeats):
        add.append(_ms(lambda: base.add_expert(new, data.prompts, labels, data.scores[:, -1])))
        remove.append(_ms(lambda: base.remove_expert(new)))
    fresh = router()
    fresh_ms = _ms(lambda: fresh.fit(data.prompts, labels, data.scores, experts=data.experts))
    base.add_expert(new, data.prompts, labels, data.scores[:, -1])
    diff = float(np.abs(base.coef_ - fresh.coef_).max())
    return {"router": "IR3DE+ domain × quality (tokens): add/remove an expert",
            "d": int(base.coef_.shape[1]), "add_ms": float(np.median(add)),
            "remove_ms": float(np.median(remove)), "fresh_fit_ms": fresh_ms,
            "max_coef_diff": diff}  # fmt: skip


def expert_update_rows(data: RoutingData, repeats: int) -> list[dict[str, Any]]:
    """Add / remove timings (ms, medians of `repeats`) and the gap to a fresh fit."""
    return [_quality_row(data, repeats), _domain_row(data, repeats), _hybrid_row(data, repeats)]
