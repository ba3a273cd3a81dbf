"""Reference points and trained baselines of the quality benchmark (scikit-learn on embeddings).

References are computed from scores alone (random, best single expert, task oracle, per-query
oracle). Baselines learn from sentence embeddings: kNN (the IR3DE paper's baseline), per-expert
logistic regression and a small MLP. Each returns the chosen expert column of each prompt.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from benchmarks.routerdc.data import RoutingData

__all__ = [
    "ROUTERDC_QUOTED",
    "Choice",
    "best_single",
    "knn_scores",
    "logistic_scores",
    "mlp_scores",
    "per_query_oracle",
    "random_expected",
    "task_oracle",
]

# RouterDC's row in its paper (NeurIPS 2024, Table 1): quoted, never run here.
ROUTERDC_QUOTED = {
    "mmlu": 61.07,
    "gsm8k": 70.32,
    "cmmlu": 51.77,
    "arc_challenge": 58.52,
    "humaneval": 51.02,
    "average": 58.54,
}


@dataclass(frozen=True)
class Choice:
    """A tuned baseline: its chosen hyper-parameters and validation accuracy (%)."""

    params: dict[str, Any]
    validation: float
    grid: dict[str, float] = field(default_factory=dict)


def random_expected(data: RoutingData) -> dict[str, float]:
    """Expected accuracy (%) of a uniformly random choice: the mean expert, per task."""
    out = {t: 100 * float(data.scores[data.tasks == t].mean()) for t in data.task_names}
    out["average"] = float(np.mean(list(out.values())))
    return out


def best_single(train: RoutingData) -> int:
    """Column of the expert with the best average task accuracy on `train`."""
    per_task = np.array([train.scores[train.tasks == t].mean(axis=0) for t in train.task_names])
    return int(per_task.mean(axis=0).argmax())


def task_oracle(train: RoutingData) -> dict[str, int]:
    """Task → column of the expert with the best mean score on that task of `train`."""
    return {t: int(train.scores[train.tasks == t].mean(axis=0).argmax()) for t in train.task_names}


def per_query_oracle(data: RoutingData) -> NDArray[np.intp]:
    """The best expert column of each prompt (an upper bound): shape (n,)."""
    return np.asarray(data.scores.argmax(axis=1))


def knn_scores(
    train_x: NDArray[np.float32], train_scores: NDArray[np.float64], x: NDArray[np.float32], k: int
) -> NDArray[np.float64]:
    """Mean scores of the k nearest (cosine) training prompts: array of shape (n, n_experts).

    Args:
        train_x: array of shape (m, d), L2-normalised training embeddings.
        train_scores: array of shape (m, n_experts).
        x: array of shape (n, d), L2-normalised embeddings to route.
        k: neighbours.
    """
    out = np.empty((x.shape[0], train_scores.shape[1]))
    for start in range(0, x.shape[0], 1024):  # bounded memory: (1024, m) similarities at a time
        sims = x[start : start + 1024] @ train_x.T
        nearest = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        out[start : start + 1024] = train_scores[nearest].mean(axis=1)
    return out


def logistic_scores(
    train_x: NDArray[np.float32],
    train_scores: NDArray[np.float64],
    x: NDArray[np.float32],
    c: float,
) -> NDArray[np.float64]:
    """P(expert succeeds) from one logistic regression per expert (score ≥ 0.5 is a success).

    Returns:
        array of shape (n, n_experts).
    """
    from sklearn.linear_model import LogisticRegression

    out = np.empty((x.shape[0], train_scores.shape[1]))
    for j in range(train_scores.shape[1]):
        y = train_scores[:, j] >= 0.5
        if y.all() or not y.any():
            out[:, j] = float(y.mean())
            continue
        model = LogisticRegression(C=c, max_iter=500).fit(train_x, y)
        out[:, j] = model.predict_proba(x)[:, 1]
    return out


def mlp_scores(
    train_x: NDArray[np.float32],
    train_scores: NDArray[np.float64],
    x: NDArray[np.float32],
    hidden: int,
    *,
    seed: int = 0,
) -> NDArray[np.float64]:
    """Every expert's score predicted by one small MLP regressor: array of shape (n, n_experts)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    model = MLPRegressor(
        hidden_layer_sizes=(hidden,), alpha=1e-3, max_iter=200, early_stopping=True,
        random_state=seed,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(train_x, train_scores)
    return np.asarray(model.predict(x), dtype=np.float64)
