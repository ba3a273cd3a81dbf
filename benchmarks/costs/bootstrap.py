"""How sure is an AIQ difference? A paired bootstrap over the test prompts.

Every operating point of a router is a choice of one LLM per prompt. Resampling the prompts
(the same resample for both routers) and recomputing each point's mean cost and quality gives
the sampling spread of AIQ(a) − AIQ(b) without refitting anything.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ir3de_core.data import CostTable
from ir3de_core.decide.calibration import choose, lambda_grid
from ir3de_core.decide.metrics import aiq

__all__ = ["Choices", "aiq_difference", "lambda_choices", "single_choices"]

Choices = NDArray[np.intp]  # shape (n_points, n_prompts): the column each point picks


def lambda_choices(quality: NDArray[np.float64], estimated_cost: NDArray[np.float64]) -> Choices:
    """The picks of argmax(quality − λ·estimated cost) over the λ grid: (n_points, n)."""
    grid = lambda_grid(quality, estimated_cost, 200)
    return np.stack([choose(quality, estimated_cost, lam) for lam in grid])


def single_choices(n_prompts: int, n_experts: int) -> Choices:
    """Each single LLM on every prompt (the zero router's points): (k, n)."""
    return np.repeat(np.arange(n_experts)[:, None], n_prompts, axis=1)


def aiq_difference(
    first: Choices,
    second: Choices,
    table: CostTable,
    cost_range: tuple[float, float],
    *,
    resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """AIQ(first) − AIQ(second) on `table`, with a 95 % paired-bootstrap interval.

    Returns:
        (difference, 2.5th percentile, 97.5th percentile).
    """
    rows = np.arange(table.n)
    cost = [table.costs[rows, c] for c in (first, second)]  # (n_points, n) each
    quality = [table.scores[rows, c] for c in (first, second)]

    def difference(sample: NDArray[np.intp]) -> float:
        a, b = (
            aiq(cost[i][:, sample].mean(axis=1), quality[i][:, sample].mean(axis=1),
                cost_range=cost_range)
            for i in (0, 1)
        )  # fmt: skip
        return a - b

    rng = np.random.default_rng(seed)
    draws = [difference(rng.integers(0, table.n, table.n)) for _ in range(resamples)]
    low, high = np.percentile(draws, [2.5, 97.5])
    return difference(rows), float(low), float(high)
