"""Sufficient statistics of the ridge router: centred sums that merge, grow and shrink exactly.

Every row of features ``x`` (a prompt, or one token of a prompt) belongs to one or more *groups*
(a domain in domain mode, an expert in quality mode) with a target ``y`` for each group. Per group
we keep the total weight ``W = Σ w``, the means ``x̄`` and ``ȳ``, and the centred sums
``S = Σ w (x − x̄)(x − x̄)ᵀ`` and ``C = Σ w (x − x̄)(y − ȳ)``, plus row and prompt counts.
Two sets of statistics merge with the pairwise update of Chan, Golub and LeVeque (1979):

    W = Wa + Wb,  δ = x̄b − x̄a,  x̄ = x̄a + δ·Wb/W,  S = Sa + Sb + δδᵀ·WaWb/W

so statistics from different data (or machines) add up, a group can be removed without
revisiting other data, and — unlike raw sums ``Σ x xᵀ`` centred by subtraction — a feature with a
large constant offset loses no precision (an offset of 1e7 still matches scikit-learn to 1e-6).

Two designs share this value type:

* ``shared`` (domain mode): a row belongs to exactly one group, with target 1 for it and an
  implicit 0 for every other group; all groups share one design matrix, the merge of all groups.
* ``per_group`` (quality mode): a row belongs to every expert that has a score for it; each
  expert has its own design, so missing scores simply leave the row out of that expert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ir3de_core.exceptions import ExpertError
from ir3de_core.ridge.moments import Moments, group_moments, merge_moments, unmerge_moments

__all__ = ["Design", "SufficientStatistics"]

Design = Literal["shared", "per_group"]
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
_FIELDS = ("weight", "mean_x", "mean_y", "scatter", "cross", "n_rows", "n_prompts")
_FLOATS = ("weight", "mean_x", "mean_y", "scatter", "cross")


@dataclass(frozen=True, eq=False)
class SufficientStatistics:
    """Per-group centred statistics of a weighted linear regression, in float64.

    Attributes:
        names: the k group names (domains or experts), in column order.
        design: ``"shared"`` (one design for all groups) or ``"per_group"``.
        weight: array of shape (k,), ``W = Σ w``.
        mean_x: array of shape (k, d), ``x̄ = Σ w x / W``.
        mean_y: array of shape (k,), ``ȳ = Σ w y / W``.
        scatter: array of shape (k, d, d), ``Σ w (x − x̄)(x − x̄)ᵀ``.
        cross: array of shape (k, d), ``Σ w (x − x̄)(y − ȳ)``.
        n_rows: array of shape (k,), number of rows (tokens or prompts).
        n_prompts: array of shape (k,), number of prompts the rows came from.
    """

    names: tuple[str, ...]
    design: Design
    weight: FloatArray
    mean_x: FloatArray
    mean_y: FloatArray
    scatter: FloatArray
    cross: FloatArray
    n_rows: IntArray
    n_prompts: IntArray

    def __post_init__(self) -> None:
        k, d = len(self.names), self.n_features
        if len(set(self.names)) != k:
            msg = f"group names must be unique, got {list(self.names)}"
            raise ExpertError(msg)
        expected = {
            "weight": (k,), "mean_x": (k, d), "mean_y": (k,), "scatter": (k, d, d),
            "cross": (k, d), "n_rows": (k,), "n_prompts": (k,),
        }  # fmt: skip
        for field, shape in expected.items():
            if getattr(self, field).shape != shape:
                msg = f"{field} has shape {getattr(self, field).shape}, expected {shape}"
                raise ValueError(msg)

    # ------------------------------------------------------------------ views
    @property
    def n_features(self) -> int:
        """Number of features d."""
        return int(self.scatter.shape[-1])

    @property
    def moments(self) -> Moments:
        """(weight, mean_x, mean_y, scatter, cross)."""
        return self.weight, self.mean_x, self.mean_y, self.scatter, self.cross

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
        """``Σ w x xᵀ`` (uncentred), shape (k, d, d); for the paper's penalised bias."""
        m = self.mean_x
        return self.scatter + self.weight[:, None, None] * (m[:, :, None] * m[:, None, :])

    @property
    def xty(self) -> FloatArray:
        """``Σ w x y`` (uncentred), shape (k, d)."""
        return self.cross + (self.weight * self.mean_y)[:, None] * self.mean_x

    # ------------------------------------------------------------------ construction
    @classmethod
    def empty(cls, names: Sequence[str], n_features: int, design: Design) -> SufficientStatistics:
        """Statistics of no data for the given groups."""
        k, d = len(names), n_features
        return cls(
            names=tuple(names), design=design, weight=np.zeros(k), mean_x=np.zeros((k, d)),
            mean_y=np.zeros(k), scatter=np.zeros((k, d, d)), cross=np.zeros((k, d)),
            n_rows=np.zeros(k, dtype=np.int64), n_prompts=np.zeros(k, dtype=np.int64),
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
        w = np.asarray(weight, dtype=np.float64)
        safe = np.where(w > 0, w, 1.0)
        mean_x = np.asarray(sum_x, dtype=np.float64) / safe[:, None]
        mean_y = np.asarray(sum_y, dtype=np.float64) / safe
        outer = mean_x[:, :, None] * mean_x[:, None, :]
        return cls(
            names=tuple(names), design=design, weight=w, mean_x=mean_x, mean_y=mean_y,
            scatter=np.asarray(xtx, dtype=np.float64) - w[:, None, None] * outer,
            cross=np.asarray(xty, dtype=np.float64) - (w * mean_y)[:, None] * mean_x,
            n_rows=np.asarray(n_rows, dtype=np.int64), n_prompts=np.asarray(n_prompts, dtype=np.int64),
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
        """Accumulate rows into fresh statistics.

        Args:
            X: array of shape (n_rows, d).
            targets: array of shape (n_rows, k); NaN marks "this row is not in this group".
                In the shared design each row must have exactly one non-NaN entry.
            names: the k group names.
            design: ``"shared"`` or ``"per_group"``.
            sample_weight: array of shape (n_rows,), default all ones.
            prompt_index: array of shape (n_rows,) giving the prompt each row came from (several
                token rows share one prompt); default one prompt per row.
        """
        features = np.asarray(X, dtype=np.float64)
        stats = cls.empty(names, features.shape[1], design)
        return stats.partial_fit(
            features, targets, sample_weight=sample_weight, prompt_index=prompt_index
        )

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
    ) -> SufficientStatistics:
        """Statistics of token rows given only how often (and with what target) each token occurs.

        Token rows are rows of an embedding table E, so ``S = (E − x̄)ᵀ diag(c) (E − x̄)`` over
        the tokens used, where ``c`` holds the summed weight of each token id: no per-token row
        is ever materialised.

        Args:
            table: array of shape (vocab, d), the embedding table E.
            counts: array of shape (k, vocab), summed row weight per group and token id.
            target_counts: array of shape (k, vocab), summed ``w * y`` per group and token id.
            names: the k group names.
            design: ``"shared"`` or ``"per_group"``.
            n_rows: array of shape (k,), token rows per group.
            n_prompts: array of shape (k,), prompts per group.
        """
        E = np.asarray(table)
        c = np.asarray(counts, dtype=np.float64)
        cy = np.asarray(target_counts, dtype=np.float64)
        stats = cls.empty(names, E.shape[1], design)
        cache: dict[bytes, tuple[FloatArray, FloatArray]] = {}
        for j in range(len(names)):
            used = np.flatnonzero((c[j] != 0) | (cy[j] != 0))
            w = float(c[j, used].sum())
            if w <= 0:
                continue
            key = used.tobytes() + c[j, used].tobytes()
            if key not in cache:  # experts scored on the same prompts share one scatter
                rows = E[used].astype(np.float64)
                mean = c[j, used] @ rows / w
                centred = rows - mean
                cache[key] = (mean, centred.T @ (centred * c[j, used, None]))
            mean, scatter = cache[key]
            mean_y = float(cy[j, used].sum()) / w
            centred_rows = E[used].astype(np.float64) - mean
            stats.weight[j], stats.mean_x[j], stats.mean_y[j] = w, mean, mean_y
            stats.scatter[j] = scatter
            stats.cross[j] = (cy[j, used] - c[j, used] * mean_y) @ centred_rows
        stats.n_rows[:] = np.asarray(n_rows, dtype=np.int64)
        stats.n_prompts[:] = np.asarray(n_prompts, dtype=np.int64)
        return stats

    # ------------------------------------------------------------------ updates
    def partial_fit(
        self,
        X: ArrayLike,
        targets: ArrayLike,
        *,
        sample_weight: ArrayLike | None = None,
        prompt_index: ArrayLike | None = None,
    ) -> SufficientStatistics:
        """Return new statistics with rows added (see `from_rows` for the arguments)."""
        out = self.copy()
        out.add_rows_in_place(X, targets, sample_weight=sample_weight, prompt_index=prompt_index)
        return out

    def add_rows_in_place(
        self,
        X: ArrayLike,
        targets: ArrayLike,
        *,
        sample_weight: ArrayLike | None = None,
        prompt_index: ArrayLike | None = None,
    ) -> NDArray[np.bool_]:
        """Add rows to these statistics in place (O(m·d²) for m rows, no copy of the k×d×d sums).

        For owners of the statistics, e.g. a router folding in feedback events; anyone else
        should use `partial_fit`, which returns new statistics. Arguments as in `from_rows`.

        Returns:
            array of shape (m, k): which (row, group) pairs were added (the non-NaN targets).
        """
        features, y, w, prompts = self._checked_rows(X, targets, sample_weight, prompt_index)
        present = ~np.isnan(y)
        if self.design == "shared" and not np.all(present.sum(axis=1) == 1):
            msg = "in the shared (domain) design every row needs exactly one group"
            raise ValueError(msg)
        for j in range(len(self.names)):
            rows = present[:, j]
            if not rows.any():
                continue
            batch = group_moments(features[rows], y[rows, j], w[rows])
            merged = merge_moments(self._group(j), batch)
            for field, value in zip(_FLOATS, merged, strict=True):
                getattr(self, field)[j] = value[0]
            self.n_rows[j] += int(rows.sum())
            self.n_prompts[j] += len(np.unique(prompts[rows]))
        return present

    def _checked_rows(
        self,
        X: ArrayLike,
        targets: ArrayLike,
        sample_weight: ArrayLike | None,
        prompt_index: ArrayLike | None,
    ) -> tuple[FloatArray, FloatArray, FloatArray, NDArray[np.int64]]:
        features = np.asarray(X, dtype=np.float64)
        y = np.asarray(targets, dtype=np.float64)
        n, k = features.shape[0], len(self.names)
        if features.ndim != 2 or features.shape[1] != self.n_features:
            msg = f"X must have shape (n_rows, {self.n_features}), got {features.shape}"
            raise ValueError(msg)
        if y.shape != (n, k):
            msg = f"targets must have shape ({n}, {k}) (one column per group), got {y.shape}"
            raise ValueError(msg)
        w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        prompts = np.arange(n) if prompt_index is None else np.asarray(prompt_index)
        if w.shape != (n,) or prompts.shape != (n,):
            msg = f"sample_weight and prompt_index must have shape ({n},)"
            raise ValueError(msg)
        return features, y, w, prompts

    def _group(self, j: int) -> Moments:
        """Group j's moments as one-group arrays (for `merge_moments`)."""
        s = slice(j, j + 1)
        return self.weight[s], self.mean_x[s], self.mean_y[s], self.scatter[s], self.cross[s]

    def copy(self) -> SufficientStatistics:
        """Statistics with their own copies of every array."""
        return replace(self, **{f: getattr(self, f).copy() for f in _FIELDS})

    def __add__(self, other: SufficientStatistics) -> SufficientStatistics:
        """Merge: statistics of the union of both data sets (groups matched by name)."""
        if not isinstance(other, SufficientStatistics):
            return NotImplemented
        self._check_compatible(other)
        names = self.names + tuple(n for n in other.names if n not in self.names)
        mine = self._reindexed(names)
        theirs = other._reindexed(names)
        merged = merge_moments(mine.moments, theirs.moments)
        return mine._with_moments(
            merged, mine.n_rows + theirs.n_rows, mine.n_prompts + theirs.n_prompts
        )

    def _with_moments(
        self, moments: Moments, n_rows: IntArray, n_prompts: IntArray
    ) -> SufficientStatistics:
        weight, mean_x, mean_y, scatter, cross = moments
        return replace(
            self, weight=weight, mean_x=mean_x, mean_y=mean_y, scatter=scatter, cross=cross,
            n_rows=n_rows, n_prompts=n_prompts,
        )  # fmt: skip

    def __sub__(self, other: SufficientStatistics) -> SufficientStatistics:
        """The statistics of this data without `other`'s rows (which must be part of it), by
        reversing the merge: for cross-validation (total − fold) and replicas' deltas."""
        if not isinstance(other, SufficientStatistics):
            return NotImplemented
        self._check_compatible(other)
        unknown = sorted(set(other.names) - set(self.names))
        if unknown:
            msg = f"cannot remove the rows of groups {unknown} that these statistics do not have"
            raise ExpertError(msg)
        theirs = other._reindexed(self.names)
        rest = unmerge_moments(self.moments, theirs.moments)
        return self._with_moments(
            rest, self.n_rows - theirs.n_rows, self.n_prompts - theirs.n_prompts
        )

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
        """Statistics with every row of group j re-weighted by ``factors[j]`` (shape (k,))."""
        c = np.asarray(factors, dtype=np.float64)
        return replace(
            self, weight=self.weight * c, scatter=self.scatter * c[:, None, None],
            cross=self.cross * c[:, None],
        )  # fmt: skip

    def pooled(self) -> tuple[float, FloatArray, FloatArray]:
        """The shared design's one system: total weight, mean x (d,) and scatter (d, d) of all
        groups' rows together (the merge of every group)."""
        if not self.names:
            d = self.n_features
            return 0.0, np.zeros(d), np.zeros((d, d))
        total = self._group(0)
        for j in range(1, len(self.names)):
            total = merge_moments(total, self._group(j))
        return float(total[0][0]), total[1][0], total[3][0]

    def _reindexed(self, names: tuple[str, ...]) -> SufficientStatistics:
        """Statistics for `names`: existing groups are copied, new groups are empty."""
        fresh = SufficientStatistics.empty(names, self.n_features, self.design)
        index = [names.index(n) for n in self.names if n in names]
        kept = [i for i, n in enumerate(self.names) if n in names]
        for field in _FIELDS:
            getattr(fresh, field)[index] = getattr(self, field)[kept]
        return fresh

    # ------------------------------------------------------------------ (de)serialisation
    def to_arrays(self, prefix: str = "stats_") -> dict[str, np.ndarray]:
        """The numeric state as a flat mapping of arrays (names are stored separately)."""
        return {prefix + f: getattr(self, f) for f in _FIELDS}

    @classmethod
    def from_arrays(
        cls,
        arrays: dict[str, np.ndarray],
        names: Sequence[str],
        design: Design,
        prefix: str = "stats_",
    ) -> SufficientStatistics:
        """Inverse of `to_arrays`; shapes are validated by the constructor."""
        values: dict[str, np.ndarray] = {}
        for f in _FIELDS:
            array = arrays[prefix + f]
            dtype = np.float64 if f in _FLOATS else np.int64
            if array.dtype != dtype:
                msg = f"{prefix + f} has dtype {array.dtype}, expected {np.dtype(dtype)}"
                raise ValueError(msg)
            values[f] = array
        return cls(names=tuple(names), design=design, **values)

    def equals(self, other: SufficientStatistics, *, atol: float = 0.0) -> bool:
        """True when names, design and all statistics agree (exactly, or within `atol`)."""
        if self.names != other.names or self.design != other.design:
            return False
        mine, theirs = self.to_arrays(), other.to_arrays()
        return all(np.allclose(mine[key], theirs[key], rtol=0.0, atol=atol) for key in mine)
