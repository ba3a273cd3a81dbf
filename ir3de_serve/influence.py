"""An event's influence on the ridge system: its weight times its leverage, ``u = w·h(x)``.

A quality-mode router solves each expert's ridge with a centred intercept. Written with the
intercept as a column of ones, the system is ``A = X̃ᵀWX̃ + diag(0, αI)`` and a row ``x`` has
leverage ``h(x) = x̃ᵀA⁻¹x̃ = 1/W + (x − x̄)ᵀ(S + αI)⁻¹(x − x̄)`` (W, x̄, S: the expert's weight,
mean and centred scatter; `ir3de_core.decide.novelty` uses the same system). Folding ``(x, y)``
with weight w moves the prediction at x by ``w·h/(1 + w·h) · (y − f(x))``, and at any z by at
most ``w·√(h(x)h(z))/(1 + w·h(x)) · |y − f(x)|`` (Cauchy–Schwarz), so ``u = w·h`` is what the
gateway caps per event and budgets per key (`ir3de_serve.guard`, docs/security.md).

A domain router (``balance=False``, ``normalize=False``, centred intercept, row features) solves
one system for every domain (the shared design: every row in it, one-hot targets), so an event's
leverage is the same formula with the pooled weight, mean and scatter, whichever domain it
names, and a key's influence is budgeted once over that system, not per domain.

The training rows' influences add up to ``1 + df`` (``df = Σ λ/(λ + α)``, the fit's effective
degrees of freedom): that is the unit the key budget is derived from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ir3de_core.decide.uncertainty import block_eigen
from ir3de_core.ridge.scatter import Eigen
from ir3de_core.router import IR3DERouter

__all__ = [
    "GroupLeverage",
    "group_leverage",
    "leverage_of",
    "leverage_supported",
    "router_leverage",
]

SHARED_SYSTEM = "*"
"""The influence budget's key for every domain of a domain router (one shared system)."""


@dataclass(frozen=True, eq=False)
class GroupLeverage:
    """One expert's ridge system, as leverage needs it.

    Attributes:
        weight: W, the expert's rows' total weight.
        mean: array of shape (d,), x̄.
        eigen: the eigendecomposition of the centred scatter S.
        alpha: the penalty α > 0.
        df: ``Σ λ/(λ + α)``, so the training rows' influences sum to ``1 + df``.
        system: which budget an event's influence is charged to: the expert (quality mode), or
            `SHARED_SYSTEM` for every domain of a domain router.
    """

    weight: float
    mean: NDArray[np.float64]
    eigen: Eigen
    alpha: float
    df: float
    system: str = SHARED_SYSTEM

    def leverage(self, rows: NDArray[np.float64]) -> NDArray[np.float64]:
        """``h(x)`` of each row of rows (n, d): array of shape (n,)."""
        centred = np.asarray(rows, dtype=np.float64) - self.mean
        return 1.0 / self.weight + self.eigen.leverage(centred, self.alpha)

    def influence_cap(self, novelty: float) -> float:
        """The influence of a weight-1 row of novelty `novelty` (1: a typical training row):
        ``(1 + df·novelty) / W``."""
        return (1.0 + self.df * novelty) / self.weight


def leverage_supported(router: IR3DERouter) -> bool:
    """Whether feedback on `router` is folded into the centred ridge leverage describes: one
    feature row per prompt, centred intercept, no column normalisation, 0 < α < ∞, and quality
    mode or domain mode without `balance` (which re-weights every row of the event's domain)."""
    state = router.state_
    settings = state.settings
    return (
        router.target in ("quality", "domain")
        and not (router.target == "domain" and settings.balance)
        and not state.uses_tokens
        and settings.intercept == "centered"
        and not settings.normalizes
        and 0 < float(settings.penalty) < math.inf
    )


def router_leverage(router: IR3DERouter) -> dict[str, GroupLeverage | None]:
    """Every group's leverage model (see `group_leverage`); a domain router's domains share
    one model, decomposed once."""
    names = router.statistics_.names
    if router.target == "domain":
        model = _shared_leverage(router) if leverage_supported(router) else None
        return dict.fromkeys(names, model)
    return {name: group_leverage(router, name) for name in names}


def _shared_leverage(router: IR3DERouter) -> GroupLeverage | None:
    """The shared design's one system: every domain's rows pooled."""
    weight, mean, scatter = router.statistics_.pooled()
    if not weight > 0:
        return None
    alpha = float(router.state_.settings.penalty)
    eigen = scatter.eigen()
    df = float((eigen.values / (eigen.values + alpha)).sum())
    return GroupLeverage(float(weight), np.asarray(mean), eigen, alpha, df)


def group_leverage(router: IR3DERouter, group: str) -> GroupLeverage | None:
    """The leverage model of `group` in the router in force (its block's decomposition is the
    one exploration caches, `block_eigen`); None when the router's feedback is not a centred
    ridge fold (see `leverage_supported`) or the group has no rows."""
    if not leverage_supported(router):
        return None
    statistics = router.statistics_
    if group not in statistics.names:
        return None
    if router.target == "domain":
        return _shared_leverage(router)
    block = int(statistics.block[statistics.names.index(group)])
    alpha = float(router.state_.settings.penalty)
    if block < 0 or not statistics.blocks[block].weight > 0:
        return None
    moments = statistics.blocks[block]
    eigen = block_eigen(moments)
    df = float((eigen.values / (eigen.values + alpha)).sum())
    return GroupLeverage(float(moments.weight), np.asarray(moments.mean), eigen, alpha, df, group)


def leverage_of(router: IR3DERouter, group: str, row: NDArray[np.float64]) -> float | None:
    """``h(x)`` of one feature row (d,) for `group` in the router in force (None: see
    `group_leverage`): O(d²) from the rank-one updater's inverse once feedback has been folded,
    else from the statistics' eigendecomposition (cached per design block)."""
    if not leverage_supported(router):
        return None
    kept = router.feedback_leverage(row, group)
    if kept is not None:
        return kept
    model = group_leverage(router, group)
    if model is None:
        return None
    return float(model.leverage(np.asarray(row, dtype=np.float64)[None, :])[0])
