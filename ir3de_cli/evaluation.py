"""Scoring routed decisions on labelled data: per-task accuracy, routing accuracy, confusion."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import confusion_matrix

from ir3de_core.data.records import Record

__all__ = [
    "Evaluation",
    "best_single_expert",
    "evaluate_choices",
    "oracle_choices",
    "task_oracle_experts",
]


@dataclass(frozen=True)
class Evaluation:
    """Results of routing a labelled set. Accuracies are in percent.

    Attributes:
        tasks: task → {"accuracy": %, "n": prompts} (the chosen expert's mean score).
        average_accuracy: plain mean of the task accuracies (RouterDC's headline figure); None
            when the records carry no scores.
        routing_accuracy: % of prompts whose predicted domain is the true one (domain mode).
        normalized_routing_accuracy: mean of per-domain recall, in % (domain mode).
        confusion: {"labels": [...], "matrix": rows = true domain, columns = predicted}.
        unscored: prompts whose chosen expert has no score (left out of the accuracy).
        choices: expert → how many prompts were routed to it.
        cost: total cost of the chosen experts, where costs are known.
    """

    tasks: dict[str, dict[str, float]]
    average_accuracy: float | None
    routing_accuracy: float | None = None
    normalized_routing_accuracy: float | None = None
    confusion: dict[str, Any] | None = None
    unscored: int = 0
    cost: float | None = None
    choices: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (keys ``average_accuracy`` and ``tasks.<task>.accuracy``)."""
        return {
            "average_accuracy": self.average_accuracy,
            "tasks": self.tasks,
            "routing_accuracy": self.routing_accuracy,
            "normalized_routing_accuracy": self.normalized_routing_accuracy,
            "confusion": self.confusion,
            "unscored": self.unscored,
            "cost": self.cost,
            "choices": dict(self.choices),
        }


def evaluate_choices(
    records: Sequence[Record],
    experts: Sequence[str],
    predicted_domains: Sequence[str] | None = None,
) -> Evaluation:
    """Evaluate one chosen expert per record.

    Args:
        records: n labelled records (``task`` groups the accuracy; "all" when absent).
        experts: n chosen expert names.
        predicted_domains: n predicted domains, for routing accuracy (records need ``domain``).
    """
    if len(records) != len(experts):
        msg = f"got {len(experts)} choices for {len(records)} records"
        raise ValueError(msg)
    per_task: dict[str, list[float]] = {}
    unscored, cost, costed = 0, 0.0, 0
    for record, expert in zip(records, experts, strict=True):
        score = record.scores.get(expert)
        if score is None:
            unscored += 1
            continue
        per_task.setdefault(record.task or "all", []).append(score)
        if expert in record.costs:
            cost += record.costs[expert]
            costed += 1
    routing = _routing_metrics(records, predicted_domains) if predicted_domains is not None else {}
    if not per_task and not routing:
        msg = (
            "none of the chosen experts has a score on these records and no domains are known; "
            "check the expert names, or add 'scores' or 'domain' to the records"
        )
        raise ValueError(msg)
    tasks = {
        t: {"accuracy": 100 * float(np.mean(v)), "n": len(v)} for t, v in sorted(per_task.items())
    }
    average = float(np.mean([t["accuracy"] for t in tasks.values()])) if tasks else None
    choices = dict(
        zip(*np.unique(np.asarray(experts, dtype=object), return_counts=True), strict=True)
    )
    return Evaluation(
        tasks=tasks,
        average_accuracy=average,
        unscored=unscored,
        cost=cost if costed else None,
        choices={str(k): int(v) for k, v in choices.items()},
        **routing,
    )


def _routing_metrics(records: Sequence[Record], predicted: Sequence[str]) -> dict[str, Any]:
    truth = [r.domain for r in records]
    pairs = [(t, p) for t, p in zip(truth, predicted, strict=True) if t is not None]
    if not pairs:
        return {}
    true, pred = zip(*pairs, strict=True)
    labels = sorted(set(true) | set(pred))
    matrix = confusion_matrix(true, pred, labels=labels)
    recall = np.diag(matrix) / np.maximum(matrix.sum(axis=1), 1)
    present = matrix.sum(axis=1) > 0
    return {
        "routing_accuracy": 100 * float(np.trace(matrix) / matrix.sum()),
        "normalized_routing_accuracy": 100 * float(recall[present].mean()),
        "confusion": {"labels": labels, "matrix": matrix.tolist()},
    }


def _score_matrix(records: Sequence[Record], experts: Sequence[str]) -> NDArray[np.float64]:
    return np.array([[r.scores.get(e, np.nan) for e in experts] for r in records], dtype=np.float64)


def best_single_expert(records: Sequence[Record], experts: Sequence[str]) -> str:
    """The expert with the best average task accuracy on `records` (choose it on train)."""
    matrix = _score_matrix(records, experts)
    tasks = sorted({r.task or "all" for r in records})
    task_of = np.array([r.task or "all" for r in records])
    per_task = np.array([np.nanmean(matrix[task_of == t], axis=0) for t in tasks])
    return experts[int(np.nanargmax(per_task.mean(axis=0)))]


def task_oracle_experts(records: Sequence[Record], experts: Sequence[str]) -> dict[str, str]:
    """The best expert of each task on `records` (choose it on train, apply it on test)."""
    matrix = _score_matrix(records, experts)
    task_of = np.array([r.task or "all" for r in records])
    return {
        t: experts[int(np.nanargmax(np.nanmean(matrix[task_of == t], axis=0)))]
        for t in sorted(set(task_of))
    }


def oracle_choices(records: Sequence[Record], experts: Sequence[str]) -> list[str]:
    """The per-query oracle: the best-scoring expert of each record."""
    matrix = np.nan_to_num(_score_matrix(records, experts), nan=-np.inf)
    return [experts[int(j)] for j in matrix.argmax(axis=1)]
