"""From sufficient statistics to routing weights: the closed-form ridge solution."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from ir3de_core.linalg import solve_ridge
from ir3de_core.statistics import SufficientStatistics

__all__ = ["InterceptMode", "RidgeSolution", "balance_factors", "solve_statistics"]

InterceptMode = Literal["centered", "penalized", "none"]


@dataclass(frozen=True)
class RidgeSolution:
    """Linear scores ``X @ coef + intercept``, one column per group.

    Attributes:
        coef: array of shape (d, k).
        intercept: array of shape (k,).
    """

    coef: NDArray[np.float64]
    intercept: NDArray[np.float64]


def balance_factors(stats: SufficientStatistics) -> NDArray[np.float64]:
    """Per-group weights that give every non-empty group the same total weight: shape (k,)."""
    weight = stats.weight
    present = weight > 0
    factors = np.ones_like(weight)
    if present.any():
        factors[present] = weight[present].mean() / weight[present]
    return factors


def solve_statistics(
    stats: SufficientStatistics,
    *,
    alpha: float,
    intercept: InterceptMode = "centered",
    balance: bool = True,
    normalize: bool = False,
) -> RidgeSolution:
    """Solve the ridge regression described by `stats`.

    Args:
        stats: per-group statistics; ``shared`` design solves one system with k right-hand sides,
            ``per_group`` solves one system per group.
        alpha: ridge penalty λ.
        intercept: ``centered`` (scikit-learn's unpenalised intercept), ``penalized`` (the IR3DE
            paper's bias column inside the penalty) or ``none``.
        balance: re-weight groups to equal total weight (shared design only), so that domains
            with long prompts (many token rows) do not dominate.
        normalize: scale each group's weight column to unit norm (the paper; the bias entry is
            part of the column in ``penalized`` mode).
    """
    if balance and stats.design == "shared":
        stats = stats.scaled(balance_factors(stats))
    k, d = len(stats.names), stats.n_features
    coef, bias = np.zeros((d, k)), np.zeros(k)
    if stats.design == "shared":
        systems = [(list(range(k)), stats.xtx.sum(0), stats.sum_x.sum(0), stats.weight.sum())]
    else:
        systems = _per_group_systems(stats)
    for columns, gram, sum_x, n in systems:
        rhs, sum_y = stats.xty.T[:, columns], stats.sum_y[columns]
        w, b = _solve_one(gram, sum_x, n, rhs, sum_y, alpha, intercept)
        coef[:, columns], bias[columns] = w, b
    if normalize:
        norms = np.linalg.norm(coef, axis=0)
        if intercept == "penalized":
            norms = np.sqrt(norms**2 + bias**2)
        norms[norms == 0] = 1.0
        coef, bias = coef / norms, bias / norms
    return RidgeSolution(coef=coef, intercept=bias)


def _per_group_systems(
    stats: SufficientStatistics,
) -> list[tuple[list[int], NDArray[np.float64], NDArray[np.float64], float]]:
    """Group experts whose designs are identical so each distinct system is solved once."""
    systems: list[tuple[list[int], NDArray[np.float64], NDArray[np.float64], float]] = []
    for j in range(len(stats.names)):
        for columns, gram, _, n in systems:
            if n == stats.weight[j] and np.array_equal(gram, stats.xtx[j]):
                columns.append(j)
                break
        else:
            systems.append(([j], stats.xtx[j], stats.sum_x[j], float(stats.weight[j])))
    return systems


def _solve_one(
    gram: NDArray[np.float64],
    sum_x: NDArray[np.float64],
    n: float,
    rhs: NDArray[np.float64],
    sum_y: NDArray[np.float64],
    alpha: float,
    intercept: InterceptMode,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """One system: gram (d, d), sum_x (d,), rhs (d, m), sum_y (m,) → coef (d, m), intercept (m,)."""
    d = gram.shape[0]
    if n <= 0:
        return np.zeros((d, rhs.shape[1])), np.zeros(rhs.shape[1])
    if intercept == "centered":
        mean_x = sum_x / n
        centred_gram = gram - np.outer(sum_x, mean_x)
        centred_rhs = rhs - np.outer(sum_x, sum_y / n)
        w = solve_ridge(centred_gram, centred_rhs, alpha)
        return w, sum_y / n - mean_x @ w
    if intercept == "penalized":
        augmented = np.block([[gram, sum_x[:, None]], [sum_x[None, :], np.array([[n]])]])
        w_aug = solve_ridge(augmented, np.vstack([rhs, sum_y[None, :]]), alpha)
        return w_aug[:d], w_aug[d]
    if intercept == "none":
        return solve_ridge(gram, rhs, alpha), np.zeros(rhs.shape[1])
    msg = f"unknown intercept mode {intercept!r}; use 'centered', 'penalized' or 'none'"
    raise ValueError(msg)
