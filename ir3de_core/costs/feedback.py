"""Online feedback: rank-one (Sherman–Morrison) ridge updates and a replay of feedback events.

`IR3DERouter.partial_fit([prompt], [{expert: score}])` already folds one event into the
statistics and re-solves each expert's d×d system. `RankOneRidge` is the fast path: it keeps the
inverse of every expert's (bordered) normal matrix and updates it in O(d²) per event, giving the
same weights as `solve_statistics(..., intercept="centered")` on row features.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ir3de_core.statistics import SufficientStatistics

__all__ = ["FeedbackStep", "RankOneRidge", "replay_feedback"]

FloatArray = NDArray[np.float64]


class RankOneRidge:
    """Per-expert ridge weights with an unpenalised intercept, updated one event at a time.

    For expert j the normal equations of ``min ‖y − Xw − b‖² + α‖w‖²`` are
    ``M_j [w; b] = [Σ x y; Σ y]`` with the bordered matrix
    ``M_j = [[Σ x xᵀ + αI, Σ x], [Σ xᵀ, n]]``. An event (x, y, weight) adds ``weight · z zᵀ`` with
    ``z = [x; 1]`` to M_j, so ``M_j⁻¹`` follows by Sherman–Morrison in O(d²).

    Args:
        names: the k experts.
        inverse: array of shape (k, d + 1, d + 1), the inverses ``M_j⁻¹``.
        rhs: array of shape (k, d + 1), ``[Σ x y; Σ y]`` per expert.
    """

    def __init__(self, names: Sequence[str], inverse: FloatArray, rhs: FloatArray) -> None:
        self.names = tuple(names)
        self.inverse = inverse
        self.rhs = rhs
        self.solution: FloatArray = np.einsum("kij,kj->ki", inverse, rhs)

    @classmethod
    def from_statistics(cls, stats: SufficientStatistics, alpha: float) -> RankOneRidge:
        """Start from quality-mode (``per_group``) statistics of row features.

        Raises:
            ValueError: shared-design statistics, alpha ≤ 0, or an expert without data.
        """
        if stats.design != "per_group":
            msg = "rank-one updates need quality-mode (per_group) statistics"
            raise ValueError(msg)
        if alpha <= 0 or np.any(stats.weight <= 0):
            msg = "rank-one updates need alpha > 0 and data for every expert (fit them first)"
            raise ValueError(msg)
        k, d = len(stats.names), stats.n_features
        inverse, rhs = np.empty((k, d + 1, d + 1)), np.empty((k, d + 1))
        for j in range(k):
            bordered = np.empty((d + 1, d + 1))
            bordered[:d, :d] = stats.xtx[j] + alpha * np.eye(d)
            bordered[:d, d] = bordered[d, :d] = stats.sum_x[j]
            bordered[d, d] = stats.weight[j]
            inverse[j] = np.linalg.inv(bordered)
            rhs[j, :d], rhs[j, d] = stats.xty[j], stats.sum_y[j]
        return cls(stats.names, inverse, rhs)

    @property
    def coef(self) -> FloatArray:
        """Weights: array of shape (d, k)."""
        return self.solution[:, :-1].T.copy()

    @property
    def intercept(self) -> FloatArray:
        """Intercepts: array of shape (k,)."""
        return self.solution[:, -1].copy()

    def update(self, x: ArrayLike, expert: str, y: float, weight: float = 1.0) -> None:
        """Fold in one observed score `y` of `expert` on a prompt with features `x` (shape (d,))."""
        if expert not in self.names:
            msg = f"unknown expert {expert!r}; known: {list(self.names)}"
            raise KeyError(msg)
        j = self.names.index(expert)
        z = np.append(np.asarray(x, dtype=np.float64), 1.0)
        u = self.inverse[j] @ z
        self.inverse[j] -= (weight / (1.0 + weight * float(z @ u))) * np.outer(u, u)
        self.rhs[j] += weight * y * z
        self.solution[j] = self.inverse[j] @ self.rhs[j]

    def decision_function(self, features: ArrayLike) -> FloatArray:
        """Predicted quality of each expert: features (n, d) → array of shape (n, k)."""
        X = np.asarray(features, dtype=np.float64)
        return X @ self.coef + self.intercept


@dataclass(frozen=True)
class FeedbackStep:
    """The held-out metric after some feedback events.

    Attributes:
        events: feedback events folded in so far.
        metric: the value of the evaluation callback.
        seconds: mean wall time of one update so far.
    """

    events: int
    metric: float
    seconds: float


def replay_feedback(
    update: Callable[[int, int, float], None],
    predict: Callable[[NDArray[np.intp]], FloatArray],
    scores: ArrayLike,
    evaluate: Callable[[], float],
    *,
    every: int = 100,
    explore: float = 0.1,
    seed: int = 0,
) -> list[FeedbackStep]:
    """Replay logged prompts as production traffic: route, observe the routed expert's score,
    feed it back, and track a held-out metric.

    Only the chosen expert's score is revealed (bandit feedback); with probability `explore` a
    random expert is asked instead, so that every expert keeps receiving feedback.

    Args:
        update: ``update(prompt_index, expert_column, observed_score)``, e.g. a call to
            ``router.partial_fit([prompt], [{expert: score}])``.
        predict: predicted quality for the prompts at the given indices: (m,) → (m, k).
        scores: array of shape (n, k), the logged scores (the "production" outcomes).
        evaluate: the held-out metric of the current router (higher is better).
        every: evaluate after this many events.
        explore: probability of asking a random expert.
        seed: random seed of the order of events and of exploration.
    """
    s = np.asarray(scores, dtype=np.float64)
    rng = np.random.default_rng(seed)
    order = rng.permutation(s.shape[0])
    steps = [FeedbackStep(0, evaluate(), 0.0)]
    elapsed = 0.0
    for t, i in enumerate(order, start=1):
        column = int(predict(np.array([i]))[0].argmax())
        if rng.random() < explore:
            column = int(rng.integers(s.shape[1]))
        if np.isnan(s[i, column]):
            continue
        start = time.perf_counter()
        update(int(i), column, float(s[i, column]))
        elapsed += time.perf_counter() - start
        if t % every == 0 or t == order.size:
            steps.append(FeedbackStep(t, evaluate(), elapsed / t))
    return steps
