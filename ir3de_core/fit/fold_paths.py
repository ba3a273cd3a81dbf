"""Each fold's fit without it, along the α grid: what cross-validation scores held-out prompts with.

The fit without fold f is the sum of the other folds' statistics (so a factored scatter stays as
small as its rows). `fold_solutions` keeps each fold's `RidgePath` (its decompositions; an α is
solved when indexed), which token aggregations need: they score a vocabulary table with the
weights. `fold_projections` keeps, for rows, only each fold's held-out scores along the path
(`ProjectedPath`): the folds are solved one after another and no d × k weights or cross-products
outlive their fold, so a grid over thousands of experts costs about one solve's memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

from ir3de_core.ridge.combine import total_of
from ir3de_core.ridge.dual_folds import dual_fold_projections
from ir3de_core.ridge.kept_rows import KeptRows, joins
from ir3de_core.ridge.projected import ProjectedPath
from ir3de_core.ridge.solver import RidgePath, RidgeSolution, solve_path
from ir3de_core.ridge.statistics import SufficientStatistics
from ir3de_core.settings import RouterSettings

__all__ = ["fold_projections", "fold_solutions", "unsolved"]

FoldStatistics = SufficientStatistics | KeptRows


def fold_solutions(
    totals: SufficientStatistics,
    folds: Sequence[FoldStatistics | None],
    alphas: Sequence[float],
    settings: RouterSettings,
) -> list[tuple[SufficientStatistics, RidgePath]]:
    """For each fold: the statistics without it and their solutions for every α. The returned
    statistics keep no scatter or cross-products: they serve the held-out decisions, not
    another solve. Each path holds its fold's decompositions and solves an α when indexed."""
    out = []
    for f, fold in enumerate(folds):
        train = _without(totals, folds, f, fold)
        out.append((train.without_scatter(), _path(train, alphas, settings)))
    return out


def fold_projections(
    totals: SufficientStatistics,
    folds: Sequence[FoldStatistics | None],
    alphas: Sequence[float],
    settings: RouterSettings,
    rows: Sequence[NDArray[np.float64] | None],
) -> list[tuple[SufficientStatistics, ProjectedPath | None]]:
    """For each fold: the statistics without it (no scatter or cross-products kept) and the
    group scores of its held-out `rows` (n_f, d) at every α (None: the fold holds no held-out
    prompts). Equal to scoring the rows with `fold_solutions`' weights, to rounding.

    When every fold is kept as its rows (`KeptRows`: fewer prompts than features) and the
    intercept is centred, each fold's fit without it is the other folds' rows, scored in the
    dual form (`KeptRows.projected`): no fold forms a k × d cross-product or projection."""
    if _dual(folds, settings):
        return _dual_projections(folds, alphas, settings, rows)  # type: ignore[arg-type]
    out: list[tuple[SufficientStatistics, ProjectedPath | None]] = []
    for f, fold in enumerate(folds):
        train = _without(totals, folds, f, fold)
        held = rows[f]
        projected = None if held is None else ProjectedPath.of(_path(train, alphas, settings), held)
        out.append((train.without_scatter(), projected))
        del train  # the fold's cross-products go before the next fold's are summed
    return out


def _dual(folds: Sequence[FoldStatistics | None], settings: RouterSettings) -> bool:
    """Whether `fold_projections` scores every fold from kept rows: each fold's complement
    has no more rows than features too (else its n_t × n_t kernel and n_t × k targets would
    cost more than the d × d scatter and k × d cross-products they stand for)."""
    kept = [f for f in folds if f is not None]
    if not (settings.intercept == "centered" and kept):
        return False
    if not all(isinstance(f, KeptRows) for f in kept):
        return False
    rows = [f.n_rows for f in kept if isinstance(f, KeptRows)]
    first = kept[0]
    assert isinstance(first, KeptRows)
    same = all(isinstance(f, KeptRows) and joins(f, first) for f in kept)
    fewest = min(rows) if len(kept) == len(folds) else 0  # a fold of none: train on all
    return same and sum(rows) - fewest <= first.n_features


def _dual_projections(
    folds: Sequence[KeptRows | None],
    alphas: Sequence[float],
    settings: RouterSettings,
    rows: Sequence[NDArray[np.float64] | None],
) -> list[tuple[SufficientStatistics, ProjectedPath | None]]:
    """`fold_projections` of kept folds: held-out rows scored in the dual form from one Gram
    of every row (`ridge.dual_folds`: no fold's rows are stacked or centred)."""
    return dual_fold_projections(folds, alphas, rows, normalize=settings.normalizes)


def unsolved(statistics: SufficientStatistics) -> RidgeSolution:
    """The weights of a state whose scores come from a `ProjectedPath`: NaN (a read-only
    broadcast, no memory), so a score computed from them by mistake is visibly not a number."""
    k, d = len(statistics.names), statistics.n_features
    return RidgeSolution(np.broadcast_to(np.nan, (d, k)), np.broadcast_to(np.nan, (k,)))


def _path(
    train: SufficientStatistics, alphas: Sequence[float], settings: RouterSettings
) -> RidgePath:
    return solve_path(
        train, alphas, intercept=settings.intercept, balance=settings.balance,
        normalize=settings.normalizes,
    )  # fmt: skip


def _without(
    totals: SufficientStatistics,
    folds: Sequence[FoldStatistics | None],
    f: int,
    fold: FoldStatistics | None,
) -> SufficientStatistics:
    return totals if fold is None else _sum(s for g, s in enumerate(folds) if g != f)


def _sum(parts: Iterable[FoldStatistics | None]) -> SufficientStatistics:
    total = total_of(parts)
    if total is None:
        msg = "cross-validation needs data outside every fold"
        raise ValueError(msg)
    return total
