"""The algebra of centred moments: merge two sets (Chan, Golub and LeVeque, 1979) and undo it.

A set of weighted rows has moments ``RowMoments`` (total weight W, mean x̄ (d,), scatter
S = Σ w (x − x̄)(x − x̄)ᵀ); each group (a target column) fitted on those rows adds its mean
target ȳ and cross-product C = Σ w (x − x̄)(y − ȳ) (d,). With δ = x̄b − x̄a and
c = WaWb/W, the union has

    x̄ = x̄a + δ·Wb/W,   S = Sa + Sb + c·δδᵀ,   ȳ = ȳa + (ȳb − ȳa)·Wb/W,   C = Ca + Cb + c·(ȳb − ȳa)·δ

so no precision is lost to a large common offset of the features, and the update can be
reversed exactly to remove a part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.linalg.blas import dger

from ir3de_core.ridge.scatter import Scatter

__all__ = ["GroupMoments", "RowMoments", "merge_groups", "row_moments", "unmerge_groups"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class RowMoments:
    """The weight, mean and scatter of a set of weighted rows (a design block).

    Attributes:
        weight: W = Σ w (> 0).
        mean: array of shape (d,), x̄.
        scatter: S.
    """

    weight: float
    mean: FloatArray
    scatter: Scatter

    def scaled(self, c: float) -> RowMoments:
        """The moments of the same rows with every weight multiplied by c > 0."""
        return RowMoments(self.weight * c, self.mean, self.scatter.scaled(c))

    def equals(self, other: RowMoments, *, atol: float = 0.0) -> bool:
        """Whether both describe the same rows' moments (exactly, or within `atol`)."""
        return (
            abs(self.weight - other.weight) <= atol
            and bool(np.allclose(self.mean, other.mean, rtol=0.0, atol=atol))
            and self.scatter.equals(other.scatter, atol=atol)
        )


@dataclass(frozen=True, eq=False)
class GroupMoments:
    """The target moments of m groups fitted on one set of rows.

    Attributes:
        mean_y: array of shape (m,), ȳ.
        cross: array of shape (m, d), C.
    """

    mean_y: FloatArray
    cross: FloatArray


def row_moments(
    x: FloatArray, y: FloatArray, w: FloatArray, *, overwrite: bool = False
) -> tuple[RowMoments, GroupMoments] | None:
    """Moments of rows x (n, d) with weights w (n,) and targets y (n, m); None for no weight.
    With `overwrite`, x is centred in place and becomes the scatter's factor (no copy)."""
    total = float(w.sum())
    if total <= 0:
        return None
    mean_x = w @ x / total
    mean_y = w @ y / total
    if overwrite:
        x -= mean_x
        centred = x
    else:
        centred = x - mean_x
    cross = (w[:, None] * (y - mean_y)).T @ centred  # (m, d), C-ordered
    rows = RowMoments(total, mean_x, Scatter.of_rows(centred, w))
    return rows, GroupMoments(np.asarray(mean_y, dtype=np.float64), cross)


def merge_groups(
    a: RowMoments, ga: GroupMoments, b: RowMoments, gb: GroupMoments, *, into: bool = False
) -> tuple[RowMoments, GroupMoments]:
    """Chan's merge of two sets of rows and of the same m groups' targets on them.

    With `into`, the merged cross-products are written over ``ga.cross`` (which the caller
    owns and no longer reads): a sum of many parts then allocates no m × d array per part.
    """
    w = a.weight + b.weight
    share, coupling = b.weight / w, a.weight * b.weight / w
    dx = b.mean - a.mean
    dy = gb.mean_y - ga.mean_y
    rows = RowMoments(w, a.mean + dx * share, (a.scatter + b.scatter).plus_outer(coupling, dx))
    if into:
        cross = ga.cross
        cross += gb.cross
    else:
        cross = ga.cross + gb.cross
    return rows, GroupMoments(ga.mean_y + dy * share, _plus_outer(cross, coupling * dy, dx))


def _plus_outer(cross: FloatArray, u: FloatArray, v: FloatArray) -> FloatArray:
    """``cross + u vᵀ`` for cross (m, d), u (m,), v (d,), in place when `cross` is C-ordered
    (BLAS ``dger`` on its transpose): no m × d temporary."""
    if cross.size == 0:
        return cross
    return np.asarray(dger(1.0, v, u, a=cross.T, overwrite_a=True).T)


def unmerge_groups(
    whole: RowMoments, gw: GroupMoments, part: RowMoments, gp: GroupMoments
) -> tuple[RowMoments, GroupMoments] | None:
    """The moments of `whole` without the rows of `part` (the inverse of `merge_groups`); None
    when nothing is left.

    Raises:
        ValueError: `part` weighs more than `whole` (it is not a part of it).
    """
    rest = whole.weight - part.weight
    if rest < -1e-9 * max(whole.weight, 1.0):
        msg = "the statistics to subtract weigh more than these: they are not a part of them"
        raise ValueError(msg)
    if rest <= 1e-12 * max(whole.weight, 1.0):
        return None
    mean_x = (whole.weight * whole.mean - part.weight * part.mean) / rest
    mean_y = (whole.weight * gw.mean_y - part.weight * gp.mean_y) / rest
    coupling = rest * part.weight / whole.weight
    dx, dy = part.mean - mean_x, gp.mean_y - mean_y
    scatter = (whole.scatter - part.scatter).plus_outer(-coupling, dx)
    cross = _plus_outer(gw.cross - gp.cross, -coupling * dy, dx)
    return RowMoments(rest, mean_x, scatter), GroupMoments(mean_y, cross)
