"""Sufficient statistics of the ridge router: centred sums that merge, grow and shrink exactly.

Every row of features ``x`` (a prompt, or one token of a prompt) belongs to one or more *groups*
(a domain in domain mode, an expert in quality mode) with a target ``y`` for each group. The
rows of a group form its *design*; groups fitted on the same rows (every expert scored on the
same prompts, the usual case in quality mode) share one design *block*: one weight, one mean
and one d×d scatter (`RowMoments`) for all of them, and one eigendecomposition solves them all.
Each group adds its mean target ``ȳ`` and cross-product ``C = Σ w (x − x̄)(y − ȳ)`` (d,).

Statistics merge with Chan's pairwise update (`ir3de_core.ridge.moments`): groups matched by
name, and blocks by the pair of blocks a group comes from on each side, so experts that share
rows on both sides still share them in the merge. The inverse (``whole − part``) gives the fit
without a fold or a replica's delta, and a scatter is kept as its factor while it has fewer rows
than features (`ir3de_core.ridge.scatter`). Memory is therefore
``Σ_blocks min(rows, d)·d + k·d`` numbers, not ``k·d²``.

Two designs share this value type:

* ``shared`` (domain mode): a row belongs to exactly one group, with target 1 for it and an
  implicit 0 for every other group; the solve pools every group's rows into one system.
* ``per_group`` (quality mode): a row belongs to every expert that has a score for it; each
  block is one system, and missing scores simply leave a row out of that expert's block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ir3de_core.exceptions import ExpertError
from ir3de_core.ridge.moments import GroupMoments, RowMoments, merge_groups
from ir3de_core.ridge.scatter import Scatter

__all__ = ["Design", "SufficientStatistics"]

Design = Literal["shared", "per_group"]
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
_GROUP_FIELDS = ("mean_y", "cross", "n_rows", "n_prompts", "y_min", "y_max")


@dataclass(frozen=True, eq=False)
class SufficientStatistics:
    """Per-group centred statistics of a weighted linear regression, in float64. Immutable:
    every operation returns new statistics (arrays may be shared, never written).

    Attributes:
        names: the k group names (domains or experts), in column order.
        design: ``"shared"`` (one design for all groups) or ``"per_group"``.
        n_features: d.
        blocks: the distinct designs (weight, mean, scatter of their rows).
        block: array of shape (k,), each group's block (-1: the group has no rows yet).
        mean_y: array of shape (k,), ``ȳ = Σ w y / W``.
        cross: array of shape (k, d), ``Σ w (x − x̄)(y − ȳ)``.
        n_rows: array of shape (k,), number of rows (tokens or prompts).
        n_prompts: array of shape (k,), number of prompts the rows came from.
        y_min, y_max: arrays of shape (k,), the smallest and largest target seen (±inf: none).
    """

    names: tuple[str, ...]
    design: Design
    n_features: int
    blocks: tuple[RowMoments, ...]
    block: IntArray
    mean_y: FloatArray
    cross: FloatArray
    n_rows: IntArray
    n_prompts: IntArray
    y_min: FloatArray = field(default_factory=lambda: np.zeros(0))
    y_max: FloatArray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        k, d = len(self.names), self.n_features
        if len(set(self.names)) != k:
            msg = f"group names must be unique, got {list(self.names)}"
            raise ExpertError(msg)
        if self.y_min.shape == (0,) and k:
            object.__setattr__(self, "y_min", np.full(k, np.inf))
            object.__setattr__(self, "y_max", np.full(k, -np.inf))
        expected = {
            "block": (k,), "mean_y": (k,), "cross": (k, d), "n_rows": (k,), "n_prompts": (k,),
            "y_min": (k,), "y_max": (k,),
        }  # fmt: skip
        for name, shape in expected.items():
            if getattr(self, name).shape != shape:
                msg = f"{name} has shape {getattr(self, name).shape}, expected {shape}"
                raise ValueError(msg)
        if k and not ((self.block >= -1) & (self.block < len(self.blocks))).all():
            msg = f"block indices must lie in [-1, {len(self.blocks)})"
            raise ValueError(msg)
        for b in self.blocks:
            if b.mean.shape != (d,) or b.scatter.n_features != d:
                msg = f"a design block does not have d={d} features"
                raise ValueError(msg)

    # ------------------------------------------------------------------ views
    @property
    def weight(self) -> FloatArray:
        """``W = Σ w`` of each group: shape (k,)."""
        totals = np.array([b.weight for b in self.blocks] + [0.0])
        return np.asarray(totals[self.block], dtype=np.float64)

    @property
    def mean_x(self) -> FloatArray:
        """``x̄`` of each group's rows: shape (k, d)."""
        means = np.vstack([*(b.mean for b in self.blocks), np.zeros(self.n_features)])
        return np.asarray(means[self.block], dtype=np.float64)

    def scatter_of(self, j: int) -> Scatter:
        """Group j's scatter ``Σ w (x − x̄)(x − x̄)ᵀ`` (zero without rows)."""
        b = int(self.block[j])
        return self.blocks[b].scatter if b >= 0 else Scatter.zeros(self.n_features)

    @property
    def sum_x(self) -> FloatArray:
        """``Σ w x``, shape (k, d)."""
        return self.weight[:, None] * self.mean_x

    @property
    def sum_y(self) -> FloatArray:
        """``Σ w y``, shape (k,)."""
        return self.weight * self.mean_y

    @property
    def xtx(self) -> FloatArray:
        """``Σ w x xᵀ`` (uncentred, dense), shape (k, d, d): for small problems and checks."""
        m = self.mean_x
        scatters = np.stack([self.scatter_of(j).to_dense() for j in range(len(self.names))])
        if not self.names:
            scatters = np.zeros((0, self.n_features, self.n_features))
        return scatters + self.weight[:, None, None] * (m[:, :, None] * m[:, None, :])

    @property
    def xty(self) -> FloatArray:
        """``Σ w x y`` (uncentred), shape (k, d)."""
        return self.cross + (self.weight * self.mean_y)[:, None] * self.mean_x

    @property
    def nbytes(self) -> int:
        """Bytes held by the statistics' arrays (shared blocks counted once)."""
        blocks = sum(b.scatter.nbytes + b.mean.nbytes for b in self.blocks)
        return int(blocks + sum(getattr(self, f).nbytes for f in _GROUP_FIELDS))

    def target_range(self) -> dict[str, tuple[float, float]]:
        """Each group's smallest and largest target seen (groups with rows only)."""
        return {
            n: (float(lo), float(hi))
            for n, lo, hi in zip(self.names, self.y_min, self.y_max, strict=True)
            if lo <= hi
        }

    # ------------------------------------------------------------------ construction
    @classmethod
    def empty(cls, names: Sequence[str], n_features: int, design: Design) -> SufficientStatistics:
        """Statistics of no data for the given groups."""
        k, d = len(names), n_features
        return cls(
            tuple(names), design, d, (), np.full(k, -1, dtype=np.int64), np.zeros(k),
            np.zeros((k, d)), np.zeros(k, dtype=np.int64), np.zeros(k, dtype=np.int64),
        )  # fmt: skip

    @classmethod
    def from_rows(
        cls,
        X: ArrayLike,
        targets: ArrayLike,
        names: Sequence[str],
        *,
        design: Design,
        sample_weight: ArrayLike | None = None,
        prompt_index: ArrayLike | None = None,
    ) -> SufficientStatistics:
        """Accumulate rows into fresh statistics (`ir3de_core.ridge.accumulate.from_rows`)."""
        from ir3de_core.ridge.accumulate import from_rows

        return from_rows(
            X, targets, names, design=design, sample_weight=sample_weight,
            prompt_index=prompt_index,
        )  # fmt: skip

    @classmethod
    def from_token_counts(
        cls,
        table: ArrayLike,
        counts: ArrayLike,
        target_counts: ArrayLike,
        names: Sequence[str],
        *,
        design: Design,
        n_rows: ArrayLike,
        n_prompts: ArrayLike,
        target_range: tuple[ArrayLike, ArrayLike] | None = None,
    ) -> SufficientStatistics:
        """Statistics of token rows from their counts
        (`ir3de_core.ridge.accumulate.from_token_counts`)."""
        from ir3de_core.ridge.accumulate import from_token_counts

        return from_token_counts(
            table, counts, target_counts, names, design=design, n_rows=n_rows,
            n_prompts=n_prompts, target_range=target_range,
        )  # fmt: skip

    @classmethod
    def from_raw(
        cls,
        names: Sequence[str],
        design: Design,
        *,
        xtx: ArrayLike,
        xty: ArrayLike,
        sum_x: ArrayLike,
        sum_y: ArrayLike,
        weight: ArrayLike,
        n_rows: ArrayLike,
        n_prompts: ArrayLike,
    ) -> SufficientStatistics:
        """Statistics from uncentred sums (routers saved by ir3de 0.1), centred once here."""
        from ir3de_core.ridge.arrays import statistics_from_raw

        return statistics_from_raw(
            names, design, xtx=xtx, xty=xty, sum_x=sum_x, sum_y=sum_y, weight=weight,
            n_rows=n_rows, n_prompts=n_prompts,
        )  # fmt: skip

    # ------------------------------------------------------------------ algebra
    def partial_fit(
        self,
        X: ArrayLike,
        targets: ArrayLike,
        *,
        sample_weight: ArrayLike | None = None,
        prompt_index: ArrayLike | None = None,
    ) -> SufficientStatistics:
        """Return new statistics with rows added (see `from_rows` for the arguments)."""
        shape = np.shape(X)
        if len(shape) != 2 or shape[1] != self.n_features:
            msg = f"X must have shape (n_rows, {self.n_features}), got {shape}"
            raise ValueError(msg)
        rows = SufficientStatistics.from_rows(
            X, targets, self.names, design=self.design,
            sample_weight=sample_weight, prompt_index=prompt_index,
        )  # fmt: skip
        return self + rows

    def copy(self) -> SufficientStatistics:
        """These statistics (they are immutable: nothing needs copying)."""
        return self

    def __add__(self, other: SufficientStatistics) -> SufficientStatistics:
        """Merge: statistics of the union of both data sets (groups matched by name)."""
        if not isinstance(other, SufficientStatistics):
            return NotImplemented
        from ir3de_core.ridge.combine import combine

        self._check_compatible(other)
        mine = set(self.names)
        names = self.names + tuple(n for n in other.names if n not in mine)
        return combine(self._reindexed(names), other._reindexed(names), subtract=False)

    def __sub__(self, other: SufficientStatistics) -> SufficientStatistics:
        """The statistics of this data without `other`'s rows (which must be part of it), by
        reversing the merge: for cross-validation (total − fold) and replicas' deltas."""
        if not isinstance(other, SufficientStatistics):
            return NotImplemented
        from ir3de_core.ridge.combine import combine

        self._check_compatible(other)
        unknown = sorted(set(other.names) - set(self.names))
        if unknown:
            msg = f"cannot remove the rows of groups {unknown} that these statistics do not have"
            raise ExpertError(msg)
        return combine(self, other._reindexed(self.names), subtract=True)

    def _check_compatible(self, other: SufficientStatistics) -> None:
        if other.design != self.design or other.n_features != self.n_features:
            msg = (
                f"cannot merge statistics of design {self.design!r}/d={self.n_features} with "
                f"{other.design!r}/d={other.n_features}: fit both with the same featurizer and target"
            )
            raise ValueError(msg)

    def add_expert(self, other: SufficientStatistics) -> SufficientStatistics:
        """Add groups that are not yet present (an error if any name already exists)."""
        clash = sorted(set(self.names) & set(other.names))
        if clash:
            msg = f"expert(s) {clash} already exist; remove them first or merge with `+`"
            raise ExpertError(msg)
        return self + other

    def remove_expert(self, name: str) -> SufficientStatistics:
        """Drop one group and every row that belonged to it."""
        if name not in self.names:
            msg = f"unknown expert {name!r}; known: {list(self.names)}"
            raise ExpertError(msg)
        return self._reindexed(tuple(n for n in self.names if n != name))

    def select(self, names: Sequence[str]) -> SufficientStatistics:
        """Statistics restricted to (and ordered as) `names`."""
        unknown = sorted(set(names) - set(self.names))
        if unknown:
            msg = f"unknown expert(s) {unknown}; known: {list(self.names)}"
            raise ExpertError(msg)
        return self._reindexed(tuple(names))

    def scaled(self, factors: ArrayLike) -> SufficientStatistics:
        """Statistics with every row of group j re-weighted by ``factors[j] > 0`` (shape (k,));
        groups that shared rows but are scaled differently get blocks of their own."""
        c = np.asarray(factors, dtype=np.float64)
        pairs: dict[tuple[int, float], int] = {}
        block = np.full(len(self.names), -1, dtype=np.int64)
        blocks: list[RowMoments] = []
        for j, (b, f) in enumerate(zip(self.block.tolist(), c.tolist(), strict=True)):
            if b < 0:
                continue
            if (b, f) not in pairs:
                pairs[b, f] = len(blocks)
                blocks.append(self.blocks[b].scaled(f))
            block[j] = pairs[b, f]
        return replace(self, blocks=tuple(blocks), block=block, cross=self.cross * c[:, None])

    def without_scatter(self) -> SufficientStatistics:
        """These statistics with every scatter and cross-product replaced by zero: weights,
        means and targets kept (enough to name the best single expert and to label scores),
        no d×d or k×d memory held (the zero cross-products are a read-only broadcast). Not
        for solving."""
        zero = Scatter.zeros(self.n_features)
        blocks = tuple(RowMoments(b.weight, b.mean, zero) for b in self.blocks)
        cross = np.broadcast_to(np.zeros(1), self.cross.shape)
        return replace(self, blocks=blocks, cross=cross)

    def pooled(self) -> tuple[float, FloatArray, Scatter]:
        """The shared design's one system: total weight, mean x (d,) and scatter of all groups'
        rows together (the merge of every block)."""
        d = self.n_features
        used = sorted(set(self.block[self.block >= 0].tolist()))
        if not used:
            return 0.0, np.zeros(d), Scatter.zeros(d)
        nothing = GroupMoments(np.zeros(0), np.zeros((0, d)))
        total = self.blocks[used[0]]
        for b in used[1:]:
            total = merge_groups(total, nothing, self.blocks[b], nothing)[0]
        return total.weight, total.mean, total.scatter

    def _reindexed(self, names: tuple[str, ...]) -> SufficientStatistics:
        """Statistics for `names`: existing groups are kept, new groups are empty, blocks no
        group uses any more are dropped (these statistics themselves when `names` are theirs)."""
        from ir3de_core.ridge.combine import reindexed

        used = self.block.tolist()
        if names == self.names and min(used, default=0) >= 0 and len(set(used)) == len(self.blocks):
            return self

        return reindexed(self, names)

    def equals(self, other: SufficientStatistics, *, atol: float = 0.0) -> bool:
        """True when names, design and every group's regression statistics agree (exactly, or
        within `atol`), however the groups are grouped into blocks (the target ranges, which
        old files do not have, are not compared)."""
        from ir3de_core.ridge.combine import equal

        return equal(self, other, atol=atol)

    # ------------------------------------------------------------------ (de)serialisation
    def to_arrays(self, prefix: str = "stats_") -> dict[str, np.ndarray]:
        """The numeric state as a flat mapping of arrays (names are stored separately)."""
        from ir3de_core.ridge.arrays import statistics_arrays

        return statistics_arrays(self, prefix)

    @classmethod
    def from_arrays(
        cls,
        arrays: dict[str, np.ndarray],
        names: Sequence[str],
        design: Design,
        prefix: str = "stats_",
    ) -> SufficientStatistics:
        """Inverse of `to_arrays`; shapes and dtypes are validated."""
        from ir3de_core.ridge.arrays import statistics_from_arrays

        return statistics_from_arrays(arrays, names, design, prefix)
