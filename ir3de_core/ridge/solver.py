"""From sufficient statistics to routing weights: the closed-form ridge solution.

With the default centred intercept the systems are built from the centred statistics directly
(``(S + αI) w = C``, ``b = ȳ − x̄ᵀ w``), so a feature's constant offset never enters the solve.
The paper's penalised bias and the no-intercept mode use the uncentred sums, as they must.
`solve_path` solves one system for many penalties from one eigendecomposition (for tuning α).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from ir3de_core.ridge.linalg import solve_ridge
from ir3de_core.ridge.statistics import SufficientStatistics

__all__ = ["InterceptMode", "RidgeSolution", "balance_factors", "solve_path", "solve_statistics"]

InterceptMode = Literal["centered", "penalized", "none"]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class RidgeSolution:
    """Linear scores ``X @ coef + intercept``, one column per group.

    Attributes:
        coef: array of shape (d, k).
        intercept: array of shape (k,).
    """

    coef: FloatArray
    intercept: FloatArray


@dataclass(frozen=True, eq=False)
class _System:
    """One linear system shared by some columns: ``(gram + αI) w = rhs``.

    Attributes:
        columns: the group columns it solves.
        gram: array of shape (d, d) (centred scatter, or uncentred ``Σ x xᵀ``).
        rhs: array of shape (d, m) for the m columns.
        mean_x: array of shape (d,) (centred systems) or ``Σ x`` (uncentred).
        mean_y: array of shape (m,) (centred) or ``Σ y`` (uncentred).
        weight: the total weight of its rows.
    """

    columns: list[int]
    gram: FloatArray
    rhs: FloatArray
    mean_x: FloatArray
    mean_y: FloatArray
    weight: float


def balance_factors(stats: SufficientStatistics) -> FloatArray:
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
            ``per_group`` solves one system per group (identical designs once).
        alpha: ridge penalty λ.
        intercept: ``centered`` (scikit-learn's unpenalised intercept), ``penalized`` (the IR3DE
            paper's bias column inside the penalty) or ``none``.
        balance: re-weight groups to equal total weight (shared design only), so that domains
            with long prompts (many token rows) do not dominate.
        normalize: scale each group's weight column to unit norm (the paper; the bias entry is
            part of the column in ``penalized`` mode).
    """
    return solve_path(
        stats, [alpha], intercept=intercept, balance=balance, normalize=normalize, eigen=False
    )[0]


def solve_path(
    stats: SufficientStatistics,
    alphas: Sequence[float],
    *,
    intercept: InterceptMode = "centered",
    balance: bool = True,
    normalize: bool = False,
    eigen: bool = True,
) -> list[RidgeSolution]:
    """The solutions for several penalties (arguments as in `solve_statistics`).

    With `eigen`, each system is decomposed once (``gram = QΛQᵀ``) and every α costs a d×d
    product instead of a factorisation: the path of a cross-validation grid in one go.
    """
    if intercept not in ("centered", "penalized", "none"):
        msg = f"unknown intercept mode {intercept!r}; use 'centered', 'penalized' or 'none'"
        raise ValueError(msg)
    if balance and stats.design == "shared":
        stats = stats.scaled(balance_factors(stats))
    k, d = len(stats.names), stats.n_features
    coefs = [np.zeros((d, k)) for _ in alphas]
    biases = [np.zeros(k) for _ in alphas]
    systems = _centred_systems(stats) if intercept == "centered" else _raw_systems(stats)
    for system in systems:
        if system.weight <= 0:
            continue
        for i, (w, b) in enumerate(_solve_system(system, alphas, intercept, eigen)):
            coefs[i][:, system.columns], biases[i][system.columns] = w, b
    return [_normalised(c, b, intercept, normalize) for c, b in zip(coefs, biases, strict=True)]


def _normalised(
    coef: FloatArray, bias: FloatArray, intercept: InterceptMode, normalize: bool
) -> RidgeSolution:
    if normalize:
        norms = np.linalg.norm(coef, axis=0)
        if intercept == "penalized":
            norms = np.sqrt(norms**2 + bias**2)
        norms[norms == 0] = 1.0
        coef, bias = coef / norms, bias / norms
    return RidgeSolution(coef=coef, intercept=bias)


def _centred_systems(stats: SufficientStatistics) -> list[_System]:
    """Centred systems: one pooled system (shared design: column j's right-hand side is
    ``W_j (x̄_j − x̄)``, its mean target ``W_j / W``), or one per distinct group design."""
    k = len(stats.names)
    if stats.design == "shared":
        total, mean, scatter = stats.pooled()
        rhs = (stats.weight[:, None] * (stats.mean_x - mean)).T
        share = stats.weight / total if total > 0 else np.zeros(k)
        return [_System(list(range(k)), scatter, rhs, mean, share, total)]
    systems: list[_System] = []
    for j in range(k):
        for system in systems:
            if (
                system.weight == stats.weight[j]
                and np.array_equal(system.gram, stats.scatter[j])
                and np.array_equal(system.mean_x, stats.mean_x[j])
            ):
                system.columns.append(j)
                break
        else:
            systems.append(_System([j], stats.scatter[j], np.empty((0,)), stats.mean_x[j],
                                   np.empty(0), float(stats.weight[j])))  # fmt: skip
    return [
        _System(s.columns, s.gram, stats.cross[s.columns].T, s.mean_x,
                stats.mean_y[s.columns], s.weight)
        for s in systems
    ]  # fmt: skip


def _raw_systems(stats: SufficientStatistics) -> list[_System]:
    """Uncentred systems (``Σ x xᵀ``, ``Σ x y``, ``Σ x``, ``Σ y``) for the penalised bias and
    the no-intercept mode."""
    xtx, xty, sum_x, sum_y = stats.xtx, stats.xty, stats.sum_x, stats.sum_y
    if stats.design == "shared":
        k = len(stats.names)
        return [
            _System(
                list(range(k)), xtx.sum(0), xty.T, sum_x.sum(0), sum_y, float(stats.weight.sum())
            )
        ]
    return [
        _System([j], xtx[j], xty[j][:, None], sum_x[j], sum_y[j : j + 1], float(stats.weight[j]))
        for j in range(len(stats.names))
    ]


def _solve_system(
    system: _System, alphas: Sequence[float], intercept: InterceptMode, eigen: bool
) -> list[tuple[FloatArray, FloatArray]]:
    """Weights (d, m) and intercepts (m,) of one system for each α."""
    gram, rhs = system.gram, system.rhs
    if intercept == "penalized":
        n = np.array([[system.weight]])
        gram = np.block([[gram, system.mean_x[:, None]], [system.mean_x[None, :], n]])
        rhs = np.vstack([rhs, system.mean_y[None, :]])
    solutions = _ridge_path(gram, rhs, alphas) if eigen else [
        np.zeros_like(rhs) if a == np.inf else solve_ridge(gram, rhs, float(a)) for a in alphas
    ]  # fmt: skip
    d = system.gram.shape[0]
    out = []
    for w in solutions:
        if intercept == "centered":
            out.append((w, system.mean_y - system.mean_x @ w))
        elif intercept == "penalized":
            out.append((w[:d], w[d]))
        else:
            out.append((w, np.zeros(rhs.shape[1])))
    return out


def _ridge_path(gram: FloatArray, rhs: FloatArray, alphas: Sequence[float]) -> list[FloatArray]:
    """``(gram + αI)⁻¹ rhs`` for every α from one eigendecomposition of the symmetric gram
    (α = ∞ gives zeros)."""
    if all(alpha == np.inf for alpha in alphas):
        return [np.zeros_like(rhs) for _ in alphas]
    values, vectors = np.linalg.eigh(gram)
    values = np.clip(values, 0.0, None)  # a scatter is positive semi-definite; drop round-off
    projected = vectors.T @ rhs
    out = []
    for alpha in alphas:
        if alpha == np.inf:
            out.append(np.zeros_like(rhs))
            continue
        denominator = values + float(alpha)
        safe = np.where(denominator > 0, denominator, np.inf)
        out.append(vectors @ (projected / safe[:, None]))
    return out
