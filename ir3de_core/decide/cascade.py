"""Cascades: ask experts from the cheapest upward and stop at the first good-enough answer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["Cascade", "CascadeResult", "cascade_order"]

FloatArray = NDArray[np.float64]
AnswerScorer = Callable[[int, int], float]


def cascade_order(costs: ArrayLike) -> list[int]:
    """Columns sorted from the cheapest to the dearest by mean cost (costs: shape (n, k) or (k,))."""
    c = np.asarray(costs, dtype=np.float64)
    mean = c.mean(axis=0) if c.ndim == 2 else c
    return [int(j) for j in np.argsort(mean, kind="stable")]


@dataclass(frozen=True)
class CascadeResult:
    """What a cascade did on n queries.

    Attributes:
        chosen: array of shape (n,), the column whose answer was accepted.
        tried: array of shape (n,), how many experts were asked.
        cost: array of shape (n,), realised cost: the sum over every expert asked.
    """

    chosen: NDArray[np.intp]
    tried: NDArray[np.intp]
    cost: FloatArray

    @property
    def average_cost(self) -> float:
        """Mean realised cost per query."""
        return float(self.cost.mean())

    def quality(self, scores: ArrayLike) -> float:
        """Mean observed quality of the accepted answers (scores: shape (n, k))."""
        s = np.asarray(scores, dtype=np.float64)
        return float(s[np.arange(s.shape[0]), self.chosen].mean())


@dataclass(frozen=True)
class Cascade:
    """Try `order` in turn; accept an answer whose score clears `threshold`; the last is final.

    The score of an answer is the router's predicted quality of that expert for the query, or
    what an `answer_scorer(query, column)` callback says after the expert has answered (e.g. a
    verifier or a self-consistency check). Every expert asked is paid for.

    Attributes:
        order: columns to try, cheapest first (see `cascade_order`).
        threshold: accept an answer whose score is ≥ this.
    """

    order: Sequence[int]
    threshold: float

    def run(
        self,
        costs: ArrayLike,
        *,
        quality: ArrayLike | None = None,
        answer_scorer: AnswerScorer | None = None,
    ) -> CascadeResult:
        """Run the cascade on n queries.

        Args:
            costs: array of shape (n, k), what asking each expert costs for each query.
            quality: array of shape (n, k), predicted quality (used when no callback is given).
            answer_scorer: ``f(query_index, column) -> score`` called after each answer.

        Returns:
            the accepted column, number of experts asked and realised cost of each query.
        """
        c = np.asarray(costs, dtype=np.float64)
        if (quality is None) == (answer_scorer is None):
            msg = "give exactly one of quality (predicted) or answer_scorer (a callback)"
            raise ValueError(msg)
        if not self.order:
            msg = "a cascade needs at least one expert in `order`"
            raise ValueError(msg)
        n = c.shape[0]
        if answer_scorer is None:
            q = np.asarray(quality, dtype=np.float64)
            if q.shape != c.shape:
                msg = f"quality has shape {q.shape} but costs have {c.shape}"
                raise ValueError(msg)
            return self._run_predicted(c, q)
        chosen = np.empty(n, dtype=np.intp)
        tried = np.empty(n, dtype=np.intp)
        cost = np.zeros(n)
        for i in range(n):
            for step, j in enumerate(self.order):
                cost[i] += c[i, j]
                last = step == len(self.order) - 1
                if last or answer_scorer(i, j) >= self.threshold:
                    chosen[i], tried[i] = j, step + 1
                    break
        return CascadeResult(chosen=chosen, tried=tried, cost=cost)

    def _run_predicted(self, c: FloatArray, q: FloatArray) -> CascadeResult:
        """Vectorised cascade on predicted quality: the first column in order clearing the bar."""
        order = np.asarray(self.order, dtype=np.intp)
        passes = q[:, order] >= self.threshold
        passes[:, -1] = True
        steps = passes.argmax(axis=1)  # first accepted step
        asked = np.arange(order.size)[None, :] <= steps[:, None]
        cost = (c[:, order] * asked).sum(axis=1)
        return CascadeResult(chosen=order[steps], tried=steps + 1, cost=cost)
