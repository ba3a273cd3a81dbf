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
from ir3de_core.ridge.scatter import Eigen, Scatter
from ir3de_core.ridge.statistics import SufficientStatistics

__all__ = [
    "InterceptMode",
    "RidgePath",
    "RidgeSolution",
    "balance_factors",
    "solve_path",
    "solve_statistics",
]

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
    """One centred linear system shared by some columns: ``(S + αI) w = C``.

    Attributes:
        columns: the group columns it solves.
        scatter: the centred scatter S of its rows.
        rhs: array of shape (d, m), the centred cross-products C of the m columns.
        mean_x: array of shape (d,), the rows' mean.
        mean_y: array of shape (m,), the columns' mean targets.
        weight: the total weight of its rows.
    """

    columns: list[int]
    scatter: Scatter
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
            ``per_group`` one system per design block (experts scored on the same prompts
            share one).
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
) -> RidgePath:
    """The solutions for several penalties (arguments as in `solve_statistics`), solved when
    indexed: ``path[i]`` is the solution for ``alphas[i]``.

    With `eigen`, each system is decomposed once (``gram = QΛQᵀ``, thin when its scatter is a
    factor of fewer rows than features: the dual solve) and every α costs a product instead of
    a factorisation: the path of a cross-validation grid in one go. Only the decompositions are
    kept (d × min(rows, d) per system), never the d × k weights of every α at once.
    """
    if intercept not in ("centered", "penalized", "none"):
        msg = f"unknown intercept mode {intercept!r}; use 'centered', 'penalized' or 'none'"
        raise ValueError(msg)
    if balance and stats.design == "shared":
        stats = stats.scaled(balance_factors(stats))
    finite = any(a != np.inf for a in alphas)
    prepared = []
    for system in _systems(stats):
        if system.weight <= 0:
            continue
        gram, rhs = system.scatter, system.rhs
        if intercept != "centered":
            gram, rhs = _uncentred(system, intercept)
        direct = not eigen and gram.is_dense and len(alphas) == 1
        decomposition = gram.eigen() if finite and not direct else None
        prepared.append(_Prepared(system, gram if direct else None, decomposition, rhs))
    return RidgePath(
        tuple(float(a) for a in alphas), tuple(prepared), len(stats.names), stats.n_features,
        intercept, normalize,
    )  # fmt: skip


@dataclass(frozen=True, eq=False)
class _Prepared:
    """One system ready to solve for any α: decomposed, or (a single dense solve) kept."""

    system: _System
    gram: Scatter | None
    decomposition: Eigen | None
    rhs: FloatArray

    def weights(self, alpha: float) -> FloatArray:
        """The solution of ``(gram + αI) w = rhs``: array of shape (d or d + 1, m)."""
        if alpha == np.inf:
            return np.zeros(self.rhs.shape)  # calloc: no page is touched until written
        if self.gram is not None:
            return solve_ridge(self.gram.to_dense(), self.rhs, alpha)
        assert self.decomposition is not None
        return self.decomposition.solve(self.rhs, alpha)


@dataclass(frozen=True, eq=False)
class RidgePath:
    """The ridge solutions of one set of statistics along a grid of penalties.

    Attributes:
        alphas: the m penalties.
        systems: the prepared systems.
        n_groups: k.
        n_features: d.
        intercept: the intercept mode.
        normalize: whether columns are scaled to unit norm.
    """

    alphas: tuple[float, ...]
    systems: tuple[_Prepared, ...]
    n_groups: int
    n_features: int
    intercept: InterceptMode
    normalize: bool

    def __len__(self) -> int:
        return len(self.alphas)

    def __getitem__(self, i: int) -> RidgeSolution:
        """The solution for ``alphas[i]``: coef (d, k) and intercept (k,)."""
        alpha, d = self.alphas[i], self.n_features
        if len(self.systems) == 1 and self.systems[0].system.columns == list(range(self.n_groups)):
            return self._whole(self.systems[0], alpha)  # one system for every group: no copy
        coef, bias = np.zeros((d, self.n_groups)), np.zeros(self.n_groups)
        for prepared in self.systems:
            w, system = prepared.weights(alpha), prepared.system
            if self.intercept == "centered":
                coef[:, system.columns] = w
                bias[system.columns] = system.mean_y - system.mean_x @ w
            elif self.intercept == "penalized":
                coef[:, system.columns], bias[system.columns] = w[:d], w[d]
            else:
                coef[:, system.columns] = w
        return _normalised(coef, bias, self.intercept, self.normalize)

    def _whole(self, prepared: _Prepared, alpha: float) -> RidgeSolution:
        w, system, d = prepared.weights(alpha), prepared.system, self.n_features
        if self.intercept == "centered":
            return _normalised(w, system.mean_y - system.mean_x @ w, self.intercept, self.normalize)
        if self.intercept == "penalized":
            return _normalised(w[:d], w[d].copy(), self.intercept, self.normalize)
        return _normalised(w, np.zeros(self.n_groups), self.intercept, self.normalize)


def _normalised(
    coef: FloatArray, bias: FloatArray, intercept: InterceptMode, normalize: bool
) -> RidgeSolution:
    if normalize:
        norms = np.linalg.norm(coef, axis=0)
        if intercept == "penalized":
            norms = np.sqrt(norms**2 + bias**2)
        norms[norms == 0] = 1.0
        coef /= norms  # in place: every caller passes weights it has just solved (no d × k copy)
        bias = bias / norms
    return RidgeSolution(coef=coef, intercept=bias)


def _systems(stats: SufficientStatistics) -> list[_System]:
    """One pooled system (shared design: column j's right-hand side is ``W_j (x̄_j − x̄)``, its
    mean target ``W_j / W``), or one per design block (the columns of the experts it holds)."""
    k = len(stats.names)
    if stats.design == "shared":
        total, mean, scatter = stats.pooled()
        weight = stats.weight
        rhs = (weight[:, None] * (stats.mean_x - mean)).T
        share = weight / total if total > 0 else np.zeros(k)
        return [_System(list(range(k)), scatter, rhs, mean, share, total)]
    members: dict[int, list[int]] = {}
    for j, b in enumerate(stats.block.tolist()):
        if b >= 0:
            members.setdefault(b, []).append(j)
    every = list(range(k))  # one block for every expert (the usual case): a view, no copy
    return [
        _System(columns, stats.blocks[b].scatter,
                stats.cross.T if columns == every else stats.cross[columns].T,
                stats.blocks[b].mean, stats.mean_y[columns], stats.blocks[b].weight)
        for b, columns in members.items()
    ]  # fmt: skip


def _uncentred(system: _System, intercept: InterceptMode) -> tuple[Scatter, FloatArray]:
    """The system of the uncentred rows: ``[X 1]`` with the bias inside the penalty
    (``penalized``, d + 1 unknowns) or ``X`` alone (``none``)."""
    w, mean = system.weight, system.mean_x
    xty = system.rhs + w * mean[:, None] * system.mean_y[None, :]
    if intercept == "penalized":
        gram = system.scatter.bordered(w * mean, w)
        return gram, np.vstack([xty, w * system.mean_y[None, :]])
    return system.scatter.plus_outer(w, mean), xty
