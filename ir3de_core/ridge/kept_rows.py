"""`KeptRows`: the statistics of fewer rows than features, kept as the rows themselves.

While a part of the data holds fewer rows than features (a cross-validation fold of 20 prompts at
4,096 hashed features), its rows X (n×d) and targets Y (n×k) are fewer numbers than its k×d
cross-product ``XᵀY``; and with X, cross-validation scores held-out rows Z in the dual (kernel)
form (`ridge.dual_folds`): with centred rows Xc, targets Yc and ``K = Xc Xcᵀ = U Λ Uᵀ`` (n×n),

    Z (XcᵀXc + αI)⁻¹ XcᵀYc = (Z Xcᵀ U) diag(1/(λ + α)) (Uᵀ Yc)

which is the primal `ProjectedPath` with ``V = Xcᵀ U Λ^(-1/2)`` and ``B = VᵀC = Λ^(1/2) UᵀYc``:
no k×d array is formed for a fold. The right-hand sides lie in the rows' span, so nothing is
left outside V (the primal path's E is zero, to rounding).

Parts add up by stacking rows while they stay fewer than the features; `statistics` gives the
`SufficientStatistics` (the same numbers as ``SufficientStatistics.from_rows``), formed once for
the final fit, and what a checkpoint saves (`to_arrays`): saved statistics never hold rows.
Only the usual quality-mode case is kept this way (`KeptRows.of`): every group has a target on
every row, one row per prompt, unit weights, finite features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from ir3de_core.ridge.accumulate import from_rows
from ir3de_core.ridge.moments import RowMoments
from ir3de_core.ridge.scatter import Scatter
from ir3de_core.ridge.statistics import Design, SufficientStatistics

__all__ = ["KeptRows", "joins", "keeps", "merged_means", "stacked", "summary_of"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class KeptRows:
    """Rows and their targets, standing for their `SufficientStatistics` (module docstring).

    Attributes:
        names: the k group names.
        design: the statistics' design.
        x: array of shape (n, d), the rows (n ≤ d).
        y: array of shape (n, k), the targets (no NaN).
        mean_x: array of shape (d,), the rows' mean.
        mean_y: array of shape (k,), the targets' mean.

    The means are computed as `SufficientStatistics` compute theirs and merged, when parts
    are stacked, by Chan's update as adding their statistics would: the mean scores (and so
    the best single expert, even when experts tie to rounding) are those of the dense path.
    """

    names: tuple[str, ...]
    design: Design
    x: FloatArray
    y: FloatArray
    mean_x: FloatArray
    mean_y: FloatArray

    @classmethod
    def of(
        cls, x: NDArray[np.floating], y: FloatArray, names: Sequence[str], *, design: Design
    ) -> KeptRows | SufficientStatistics:
        """The rows kept when they can be (fewer rows than features, quality design, every
        target present), else their `SufficientStatistics`."""
        features = np.asarray(x, dtype=np.float64)
        targets = np.asarray(y, dtype=np.float64)
        if keeps(features, targets, design):
            ones = np.ones(features.shape[0])  # as `ridge.moments.row_moments` does
            total = float(ones.sum())
            mean_x, mean_y = ones @ features / total, ones @ targets / total
            return cls(tuple(names), design, features, targets, mean_x, mean_y)
        return SufficientStatistics.from_rows(features, targets, names, design=design)

    @property
    def n_features(self) -> int:
        """d."""
        return int(self.x.shape[1])

    @property
    def n_rows(self) -> int:
        """n."""
        return int(self.x.shape[0])

    def statistics(self, *, consume: bool = False) -> SufficientStatistics:
        """The statistics of these rows (one k×d cross-product), with these means. With
        `consume` the rows are centred in place into the scatter's factor: this `KeptRows`
        must not be used afterwards (for rows stacked only to form their statistics)."""
        whole = from_rows(self.x, self.y, self.names, design=self.design, overwrite_rows=consume)
        rows = whole.blocks[0]
        block = RowMoments(rows.weight, self.mean_x, rows.scatter)
        return replace(whole, blocks=(block,), mean_y=self.mean_y)

    def to_arrays(self, prefix: str = "stats_") -> dict[str, np.ndarray]:
        """The arrays of `statistics` (what a checkpoint saves)."""
        return self.statistics().to_arrays(prefix)

    def __add__(self, other: object) -> KeptRows | SufficientStatistics:
        """Both parts' rows: stacked while fewer than the features and of the same groups,
        else the sum of their statistics."""
        if isinstance(other, KeptRows) and joins(self, other):
            joined = stacked([self, other])
            return joined if joined.n_rows <= joined.n_features else joined.statistics()
        if isinstance(other, KeptRows):
            return self.statistics() + other.statistics()
        if isinstance(other, SufficientStatistics):
            return self.statistics() + other
        return NotImplemented

    def __radd__(self, other: object) -> SufficientStatistics:
        if isinstance(other, SufficientStatistics):
            return other + self.statistics()
        return NotImplemented

    def summary(self) -> SufficientStatistics:
        """These rows' statistics without scatter or cross-products (as
        ``statistics().without_scatter()``, without forming them): weights, means, counts and
        target ranges, for the held-out decisions."""
        return summary_of(
            self.names, self.design, self.n_features, self.y, self.mean_x, self.mean_y
        )


def keeps(x: FloatArray, y: FloatArray, design: Design) -> bool:
    """Whether rows x (n, d) with targets y (n, k) are kept as rows (see `KeptRows.of`)."""
    return (
        design == "per_group"
        and 0 < x.shape[0] <= x.shape[1]
        and y.shape[1] > 0
        and bool(np.isfinite(y).all())
        and bool(np.isfinite(x).all())
    )


def stacked(parts: Sequence[KeptRows]) -> KeptRows:
    """One `KeptRows` of every part's rows, in order (any number of rows).

    Raises:
        ValueError: the parts have different groups, designs or features.
    """
    first = parts[0]
    for part in parts[1:]:
        if not joins(first, part):
            msg = "cannot stack kept rows of different groups, designs or features"
            raise ValueError(msg)
    if len(parts) == 1:
        return first
    mean_x, mean_y = merged_means(parts)
    return KeptRows(
        first.names, first.design, np.concatenate([p.x for p in parts]),
        np.concatenate([p.y for p in parts]), mean_x, mean_y,
    )  # fmt: skip


def joins(a: KeptRows, b: KeptRows) -> bool:
    """Whether two parts' rows can be stacked: the same groups, design and features."""
    return (a.names, a.design, a.n_features) == (b.names, b.design, b.n_features)


def merged_means(parts: Sequence[KeptRows]) -> tuple[FloatArray, FloatArray]:
    """The rows' and targets' means of all `parts` together, (d,) and (k,): Chan's update
    (`ridge.moments.merge_groups`), part by part, as adding their statistics would."""
    first = parts[0]
    weight, mean_x, mean_y = float(first.n_rows), first.mean_x, first.mean_y
    for part in parts[1:]:
        total = weight + part.n_rows
        share = part.n_rows / total
        mean_x = mean_x + (part.mean_x - mean_x) * share
        mean_y = mean_y + (part.mean_y - mean_y) * share
        weight = total
    return mean_x, mean_y


def summary_of(
    names: tuple[str, ...],
    design: Design,
    n_features: int,
    y: FloatArray,
    mean_x: FloatArray,
    mean_y: FloatArray,
) -> SufficientStatistics:
    """The statistics of rows with targets `y` (n, k) and these means, without scatter or
    cross-products (`KeptRows.summary`; the rows themselves are not needed)."""
    n, k = y.shape
    zero = Scatter.zeros(n_features)
    empty = SufficientStatistics.empty(names, n_features, design)
    return replace(
        empty, blocks=(RowMoments(float(n), mean_x, zero),),
        block=np.zeros(k, dtype=np.int64), mean_y=mean_y,
        cross=np.broadcast_to(np.zeros(1), (k, n_features)),
        n_rows=np.full(k, n, dtype=np.int64), n_prompts=np.full(k, n, dtype=np.int64),
        y_min=y.min(axis=0), y_max=y.max(axis=0),
    )  # fmt: skip
