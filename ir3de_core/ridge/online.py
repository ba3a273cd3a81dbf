"""Online ridge updates: fold feedback events into the solution in O(d²) each (Sherman–Morrison).

A quality-mode router solves, for each expert j, ``min ‖y − Xw − b‖² + α‖w‖²`` with an
unpenalised, centred intercept: ``w = (S_j + αI)⁻¹ C_j`` and ``b = ȳ_j − x̄_jᵀ w`` from the
expert's centred statistics. An event (x, y, weight v) changes them by Welford's update: with
``δ = x − x̄`` and ``c = vW / (W + v)``, ``S += c δδᵀ`` and ``C += c δ (y − ȳ)``. So
``P_j = (S_j + αI)⁻¹`` follows by one Sherman–Morrison step with ``u = √c δ``, in O(d²), and
the weights are ``P_j C_j``: no offset of the features ever enters the update.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.linalg import blas

from ir3de_core.exceptions import ExpertError
from ir3de_core.ridge.linalg import lapack_threads
from ir3de_core.ridge.solver import solve_statistics
from ir3de_core.ridge.statistics import SufficientStatistics

__all__ = ["RankOneRidge"]

FloatArray = NDArray[np.float64]


class RankOneRidge:
    """Per-expert ridge weights with an unpenalised intercept, kept current event by event.

    The statistics stay exact (they are updated too), so the weights always equal
    ``solve_statistics(statistics, alpha=alpha, intercept="centered")`` up to round-off. An
    expert's inverse ``P_j`` is computed the first time it receives an event (O(d³), once),
    and recomputed from the sums after `refresh_every` rank-one steps, or when one call brings
    more than d/8 rows for it (then a fresh solve is cheaper than the rank-one steps).

    Args:
        statistics: quality-mode (``per_group``) statistics of row features (immutable: each
            event replaces them with their sum with the event's row).
        alpha: ridge penalty λ > 0.
        refresh_every: rank-one steps of one expert between exact re-computations.
    """

    def __init__(
        self, statistics: SufficientStatistics, alpha: float, *, refresh_every: int = 1000
    ) -> None:
        if statistics.design != "per_group":
            msg = "rank-one updates need quality-mode (per_group) statistics"
            raise ValueError(msg)
        if not alpha > 0:
            msg = f"rank-one updates need alpha > 0, got {alpha}"
            raise ValueError(msg)
        if refresh_every < 1:
            msg = f"refresh_every must be ≥ 1, got {refresh_every}"
            raise ValueError(msg)
        self.statistics = statistics
        self.alpha = float(alpha)
        self.refresh_every = refresh_every
        solution = solve_statistics(statistics, alpha=self.alpha, intercept="centered")
        self.coef: FloatArray = solution.coef
        self.intercept: FloatArray = solution.intercept
        self._inverse: dict[int, FloatArray] = {}
        self._steps = np.zeros(len(statistics.names), dtype=np.int64)

    @classmethod
    def from_statistics(
        cls, statistics: SufficientStatistics, alpha: float, *, refresh_every: int = 1000
    ) -> RankOneRidge:
        """Start from quality-mode statistics (never changed: statistics are immutable)."""
        return cls(statistics, alpha, refresh_every=refresh_every)

    @property
    def names(self) -> tuple[str, ...]:
        """The k experts, in column order."""
        return self.statistics.names

    def update(self, x: ArrayLike, expert: str, y: float, weight: float = 1.0) -> None:
        """Fold in one observed score `y` of `expert` on a prompt with features `x` (shape (d,))."""
        if expert not in self.names:
            msg = f"unknown expert {expert!r}; known: {list(self.names)}"
            raise ExpertError(msg)
        targets = np.full((1, len(self.names)), np.nan)
        targets[0, self.names.index(expert)] = y
        features = np.asarray(x, dtype=np.float64).reshape(1, -1)
        self.add_rows(features, targets, sample_weight=np.array([weight], dtype=np.float64))

    def add_rows(
        self,
        X: ArrayLike,
        targets: ArrayLike,
        *,
        sample_weight: ArrayLike | None = None,
        sequential: bool = False,
    ) -> None:
        """Fold in m rows of features X (m, d) with targets (m, k), NaN where an expert is unscored.

        With `sequential`, the statistics add the rows one at a time, so they equal bit for bit
        those of m calls of one row each (replicas folding a shared log in batches of any size
        agree); the weights are solved once, after the last row.

        Raises:
            ValueError: mismatched shapes, NaN/inf features, or a weight that is not positive.
        """
        features = np.asarray(X, dtype=np.float64)
        if not np.isfinite(features).all():
            msg = "features must be finite; check the featurizer's output"
            raise ValueError(msg)
        weights = (
            np.ones(features.shape[0])
            if sample_weight is None
            else np.asarray(sample_weight, dtype=np.float64)
        )
        if weights.shape == (features.shape[0],) and not (weights > 0).all():
            msg = "rank-one updates need positive weights; refit to remove data"
            raise ValueError(msg)
        y = np.asarray(targets, dtype=np.float64)
        if np.isinf(y).any():
            msg = "targets must be finite scores (NaN marks an unscored expert)"
            raise ValueError(msg)
        if y.shape != (features.shape[0], len(self.names)):
            msg = f"targets must have shape ({features.shape[0]}, {len(self.names)}), got {y.shape}"
            raise ValueError(msg)
        present = ~np.isnan(y)
        counts = present.sum(axis=0)
        limit = max(1, self.statistics.n_features // 8)
        touched = np.flatnonzero(counts).tolist()
        exact = {
            j for j in touched
            if j not in self._inverse or counts[j] > limit
            or self._steps[j] + counts[j] > self.refresh_every
        }  # fmt: skip
        if len(exact) == len(touched) and not sequential:  # no rank-one step: in one go
            self.statistics = self.statistics.partial_fit(features, y, sample_weight=weights)
        else:
            for i in range(features.shape[0]):  # each step sees the sums before its row
                for j in np.flatnonzero(present[i]).tolist():
                    if j not in exact:
                        self._rank_one(j, features[i], float(weights[i]))
                self.statistics = self.statistics.partial_fit(
                    features[i : i + 1], y[i : i + 1], sample_weight=weights[i : i + 1]
                )
        for j in touched:
            if j in exact:
                self._refresh(j)
            else:
                self._steps[j] += counts[j]
                self._set_solution(j)

    def leverage(self, x: ArrayLike, expert: str) -> float | None:
        """``1/W + (x − x̄)ᵀP(x − x̄)``, a row's leverage in `expert`'s system with the
        intercept (x: shape (d,)), from the kept inverse in O(d²); None before it has one."""
        j = self.names.index(expert)
        inverse = self._inverse.get(j)
        if inverse is None or not self.statistics.weight[j] > 0:
            return None
        delta = np.asarray(x, dtype=np.float64) - self.statistics.mean_x[j]
        return float(1.0 / self.statistics.weight[j] + delta @ inverse @ delta)

    def kept_inverse(self, expert: int) -> FloatArray | None:
        """``(S_j + αI)⁻¹`` of expert j (column index) as kept now (it changes in place with
        the next event: copy it to keep it), or None before its first event."""
        return self._inverse.get(expert)

    def decision_function(self, features: ArrayLike) -> FloatArray:
        """Predicted quality of each expert: features (n, d) → array of shape (n, k)."""
        X = np.asarray(features, dtype=np.float64)
        return X @ self.coef + self.intercept

    # ------------------------------------------------------------------ internals
    def _rank_one(self, j: int, x: FloatArray, weight: float) -> None:
        """Welford's update of expert j's scatter as a Sherman–Morrison step on its inverse."""
        stats, inverse = self.statistics, self._inverse[j]
        total = float(stats.weight[j])
        u = np.sqrt(weight * total / (total + weight)) * (x - stats.mean_x[j])
        pu = inverse @ u
        scale = -1.0 / (1.0 + float(u @ pu))
        if inverse.flags.c_contiguous:  # P is symmetric: its transpose is the Fortran array
            # BLAS's rank-one update in place: one pass over P, no d × d temporary (10× faster
            # than ``P -= outer(pu, pu) / (1 + uᵀpu)`` at d = 1,024)
            updated = blas.dger(scale, pu, pu, a=inverse.T, overwrite_a=1)
            if not np.may_share_memory(updated, inverse):  # BLAS made a copy after all
                inverse[...] = updated.T
        else:
            inverse += scale * np.outer(pu, pu)

    def _refresh(self, j: int) -> None:
        """Exact inverse and solution of expert j from its statistics."""
        stats, d = self.statistics, self.statistics.n_features
        self._steps[j] = 0
        if stats.weight[j] <= 0:
            self._inverse.pop(j, None)
            self.coef[:, j], self.intercept[j] = np.zeros(d), 0.0
            return
        system = stats.scatter_of(j).to_dense().copy()
        system.flat[:: d + 1] += self.alpha
        with lapack_threads(d):
            self._inverse[j] = np.asarray(np.linalg.inv(system), dtype=np.float64)
        self._set_solution(j)

    def _set_solution(self, j: int) -> None:
        """``w = P C`` and ``b = ȳ − x̄ᵀ w`` of expert j."""
        stats = self.statistics
        w = self._inverse[j] @ stats.cross[j]
        self.coef[:, j] = w
        self.intercept[j] = stats.mean_y[j] - stats.mean_x[j] @ w
