"""Sufficient statistics of the ridge router: sums that merge, grow and shrink exactly.

Every row of features ``x`` (a prompt, or one token of a prompt) belongs to one or more *groups*
(a domain in domain mode, an expert in quality mode) with a target ``y`` for each group. Per group
we keep the weighted sums ``Σ w x xᵀ``, ``Σ w x y``, ``Σ w x``, ``Σ w y``, ``Σ w`` and row counts.
Because these are sums, statistics from different data (or machines) add up, and a group can be
removed without revisiting the data of any other group.

Two designs share this value type:

* ``shared`` (domain mode): a row belongs to exactly one group, with target 1 for it and an
  implicit 0 for every other group; all groups share one design matrix, ``A = Σ_g A_g``.
* ``per_group`` (quality mode): a row belongs to every expert that has a score for it; each
  expert has its own design, ``A_j``, so missing scores simply leave the row out of that expert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ir3de_core.exceptions import ExpertError

__all__ = ["Design", "SufficientStatistics"]

Design = Literal["shared", "per_group"]
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
_FIELDS = ("xtx", "xty", "sum_x", "sum_y", "weight", "n_rows", "n_prompts")  # the array fields


@dataclass(frozen=True, eq=False)
class SufficientStatistics:
    """Per-group sufficient statistics of a weighted linear regression, in float64.

    Attributes:
        names: the k group names (domains or experts), in column order.
        design: ``"shared"`` (one design for all groups) or ``"per_group"``.
        xtx: array of shape (k, d, d), ``Σ w x xᵀ`` over the group's rows.
        xty: array of shape (k, d), ``Σ w x y``.
        sum_x: array of shape (k, d), ``Σ w x``.
        sum_y: array of shape (k,), ``Σ w y``.
        weight: array of shape (k,), ``Σ w``.
        n_rows: array of shape (k,), number of rows (tokens or prompts).
        n_prompts: array of shape (k,), number of prompts the rows came from.
    """

    names: tuple[str, ...]
    design: Design
    xtx: FloatArray
    xty: FloatArray
    sum_x: FloatArray
    sum_y: FloatArray
    weight: FloatArray
    n_rows: IntArray
    n_prompts: IntArray

    def __post_init__(self) -> None:
        k, d = len(self.names), self.n_features
        if len(set(self.names)) != k:
            msg = f"group names must be unique, got {list(self.names)}"
            raise ExpertError(msg)
        expected = {
            "xtx": (k, d, d),
            "xty": (k, d),
            "sum_x": (k, d),
            "sum_y": (k,),
            "weight": (k,),
            "n_rows": (k,),
            "n_prompts": (k,),
        }
        for field, shape in expected.items():
            if getattr(self, field).shape != shape:
                msg = f"{field} has shape {getattr(self, field).shape}, expected {shape}"
                raise ValueError(msg)

    # ------------------------------------------------------------------ construction
    @property
    def n_features(self) -> int:
        """Number of features d."""
        return int(self.xtx.shape[-1])

    @classmethod
    def empty(cls, names: Sequence[str], n_features: int, design: Design) -> SufficientStatistics:
        """Statistics of no data for the given groups."""
        k, d = len(names), n_features
        return cls(
            names=tuple(names),
            design=design,
            xtx=np.zeros((k, d, d)),
            xty=np.zeros((k, d)),
            sum_x=np.zeros((k, d)),
            sum_y=np.zeros(k),
            weight=np.zeros(k),
            n_rows=np.zeros(k, dtype=np.int64),
            n_prompts=np.zeros(k, dtype=np.int64),
        )

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

        Token rows are rows of an embedding table E, so ``Σ w x xᵀ = Eᵀ diag(c) E`` where ``c``
        holds the summed weight of each token id: no per-token row is ever materialised.

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
        cache: dict[bytes, FloatArray] = {}
        for j in range(len(names)):
            used = np.flatnonzero((c[j] != 0) | (cy[j] != 0))
            rows = E[used].astype(np.float64)
            key = used.tobytes() + c[j, used].tobytes()
            if key not in cache:  # experts scored on the same prompts share one Gram matrix
                cache[key] = rows.T @ (rows * c[j, used, None])
            stats.xtx[j] = cache[key]
            stats.xty[j] = cy[j, used] @ rows
            stats.sum_x[j] = c[j, used] @ rows
        stats.sum_y[:] = cy.sum(axis=1)
        stats.weight[:] = c.sum(axis=1)
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
        """Add rows to these sums in place (O(m·d²) for m rows, no copy of the k×d×d sums).

        For owners of the statistics, e.g. a router folding in feedback events; anyone else
        should use `partial_fit`, which returns new statistics. Arguments as in `from_rows`.

        Returns:
            array of shape (m, k): which (row, group) pairs were added (the non-NaN targets).
        """
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
        present = ~np.isnan(y)
        if self.design == "shared" and not np.all(present.sum(axis=1) == 1):
            msg = "in the shared (domain) design every row needs exactly one group"
            raise ValueError(msg)
        for j in range(k):
            rows = present[:, j]
            if not rows.any():
                continue
            xj, wj, yj = features[rows], w[rows], y[rows, j]
            weighted = xj * wj[:, None]
            self.xtx[j] += weighted.T @ xj
            self.xty[j] += weighted.T @ yj
            self.sum_x[j] += weighted.sum(axis=0)
            self.sum_y[j] += float(wj @ yj)
            self.weight[j] += float(wj.sum())
            self.n_rows[j] += int(rows.sum())
            self.n_prompts[j] += len(np.unique(prompts[rows]))
        return present

    def copy(self) -> SufficientStatistics:
        """Statistics with their own copies of every array."""
        return replace(self, **{f: getattr(self, f).copy() for f in _FIELDS})

    def __add__(self, other: SufficientStatistics) -> SufficientStatistics:
        """Merge: statistics of the union of both data sets (groups matched by name)."""
        if not isinstance(other, SufficientStatistics):
            return NotImplemented
        if other.design != self.design or other.n_features != self.n_features:
            msg = (
                f"cannot merge statistics of design {self.design!r}/d={self.n_features} with "
                f"{other.design!r}/d={other.n_features}: fit both with the same featurizer and target"
            )
            raise ValueError(msg)
        names = self.names + tuple(n for n in other.names if n not in self.names)
        merged = self._reindexed(names)
        index = [names.index(n) for n in other.names]
        return replace(
            merged,
            xtx=_add_at(merged.xtx, index, other.xtx),
            xty=_add_at(merged.xty, index, other.xty),
            sum_x=_add_at(merged.sum_x, index, other.sum_x),
            sum_y=_add_at(merged.sum_y, index, other.sum_y),
            weight=_add_at(merged.weight, index, other.weight),
            n_rows=_add_at(merged.n_rows, index, other.n_rows),
            n_prompts=_add_at(merged.n_prompts, index, other.n_prompts),
        )

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
            self,
            xtx=self.xtx * c[:, None, None],
            xty=self.xty * c[:, None],
            sum_x=self.sum_x * c[:, None],
            sum_y=self.sum_y * c,
            weight=self.weight * c,
        )

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
        float_fields = ("xtx", "xty", "sum_x", "sum_y", "weight")
        int_fields = ("n_rows", "n_prompts")
        values: dict[str, np.ndarray] = {}
        for f in float_fields + int_fields:
            array = arrays[prefix + f]
            dtype = np.float64 if f in float_fields else np.int64
            if array.dtype != dtype:
                msg = f"{prefix + f} has dtype {array.dtype}, expected {np.dtype(dtype)}"
                raise ValueError(msg)
            values[f] = array
        return cls(names=tuple(names), design=design, **values)

    def equals(self, other: SufficientStatistics, *, atol: float = 0.0) -> bool:
        """True when names, design and all sums agree (exactly, or within `atol`)."""
        if self.names != other.names or self.design != other.design:
            return False
        mine, theirs = self.to_arrays(), other.to_arrays()
        return all(np.allclose(mine[key], theirs[key], rtol=0.0, atol=atol) for key in mine)


def _add_at(base: np.ndarray, index: list[int], values: np.ndarray) -> np.ndarray:
    out = base.copy()
    out[index] += values
    return out
