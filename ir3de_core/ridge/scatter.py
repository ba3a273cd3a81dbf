"""`Scatter`: a symmetric d×d matrix ``S = Σ w (x − x̄)(x − x̄)ᵀ``, kept in the smaller of two forms.

While it summarises fewer rows than it has features, a scatter is kept as its signed factor
``S = Gᵀ diag(s) G`` (G: r×d rows, s: ±1): r·d numbers instead of d², and a solve costs an
r×r eigendecomposition instead of a d×d one (the dual of ridge regression). Merging two factors
stacks their rows (plus one row for the difference of the means, see `ridge.moments`); once a
factor would hold more than d rows it becomes the dense d×d matrix. Both forms are exact: the
choice changes memory and time, never the statistics.

A scatter is immutable: every operation returns a new one and never writes into its inputs, so
statistics that share a scatter (experts scored on the same prompts) stay independent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.linalg.blas import dgemm

from ir3de_core.ridge.linalg import lapack_threads, thin_qr

__all__ = ["Eigen", "Scatter"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Eigen:
    """An eigendecomposition ``S = V diag(λ) Vᵀ``, possibly thin.

    Attributes:
        values: array of shape (m,), λ ≥ 0.
        vectors: array of shape (d, m), orthonormal columns.
        complete: whether the columns span all d dimensions; when not, ``S`` is zero on their
            orthogonal complement.
    """

    values: FloatArray
    vectors: FloatArray
    complete: bool

    def solve(self, rhs: FloatArray, alpha: float) -> FloatArray:
        """``(S + αI)⁻¹ rhs`` for rhs (d, m); with α = 0 the pseudo-inverse, α = ∞ zeros."""
        if alpha == np.inf:
            return np.zeros(rhs.shape)  # calloc: no page is touched until written
        projected = self.vectors.T @ rhs
        denominator = self.values + float(alpha)
        safe = np.where(denominator > 0, denominator, np.inf)
        if self.complete or alpha == 0:
            return np.asarray(self.vectors @ (projected / safe[:, None]), dtype=np.float64)
        # V diag(1/(λ+α)) Vᵀb + (b − VVᵀb)/α = b/α + V diag(1/(λ+α) − 1/α) Vᵀb, as one GEMM
        # into a copy of b (``C ← V·S + C/α``): the d × m result is the only d × m array made
        # (it is large when many experts share a block: 5 GB at 65,536 features × 10,000)
        out = np.array(rhs, dtype=np.float64, order="F")
        if out.size == 0 or self.values.size == 0:
            out /= float(alpha)
            return out
        scaled = projected * (1.0 / safe - 1.0 / float(alpha))[:, None]
        return np.asarray(dgemm(1.0, self.vectors, scaled, beta=1.0 / float(alpha), c=out,
                                overwrite_c=True), dtype=np.float64)  # fmt: skip

    def leverage(self, rows: FloatArray, alpha: float) -> FloatArray:
        """``xᵀ(S + αI)⁻¹x`` for each row x of rows (n, d): array of shape (n,)."""
        if alpha == np.inf:
            return np.zeros(rows.shape[0])
        projected = rows @ self.vectors
        denominator = self.values + float(alpha)
        safe = np.where(denominator > 0, denominator, np.inf)
        out = (projected**2 / safe).sum(axis=1)
        if not self.complete and alpha > 0:
            rest = np.einsum("ij,ij->i", rows, rows) - np.einsum("ij,ij->i", projected, projected)
            out += np.maximum(rest, 0.0) / float(alpha)
        return np.asarray(out, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class Scatter:
    """A symmetric d×d matrix, dense or as a signed factor (see the module docstring).

    Attributes:
        n_features: d.
        dense: array of shape (d, d), or None when factored.
        rows: array of shape (r, d), the factor G (None when dense).
        sign: array of shape (r,), ±1 for each row of G (None when dense).
    """

    n_features: int
    dense: FloatArray | None = None
    rows: FloatArray | None = None
    sign: FloatArray | None = None

    def __post_init__(self) -> None:
        d = self.n_features
        if self.dense is not None:
            if self.dense.shape != (d, d) or self.rows is not None:
                msg = f"a dense scatter has shape ({d}, {d}), got {self.dense.shape}"
                raise ValueError(msg)
            return
        if self.rows is None or self.sign is None:
            msg = "a scatter is dense or has rows and signs"
            raise ValueError(msg)
        if self.rows.ndim != 2 or self.rows.shape[1] != d or self.sign.shape != self.rows.shape[:1]:
            msg = f"factor rows {self.rows.shape} / signs {self.sign.shape} do not fit d={d}"
            raise ValueError(msg)

    # ------------------------------------------------------------------ construction
    @classmethod
    def zeros(cls, n_features: int) -> Scatter:
        """The zero matrix (a factor with no rows)."""
        return cls(n_features, rows=np.zeros((0, n_features)), sign=np.zeros(0))

    @classmethod
    def of_rows(cls, centred: ArrayLike, weights: ArrayLike) -> Scatter:
        """``Σ w x xᵀ`` of centred rows (m, d) with weights (m,) (negative weights subtract).

        The rows are taken over, as `of_dense` takes its matrix: the factor may be them, scaled
        in place, so the caller passes rows it no longer uses (no m × d copy is made when every
        weight is non-zero)."""
        x = np.asarray(centred, dtype=np.float64)
        w = np.asarray(weights, dtype=np.float64)
        keep = w != 0
        if not keep.all():
            x, w = x[keep], w[keep]
        root = np.sqrt(np.abs(w))
        if not np.all(root == 1.0):
            x *= root[:, None]
        return cls._of_factor(x.shape[1], x, np.sign(w))

    @classmethod
    def of_dense(cls, matrix: ArrayLike) -> Scatter:
        """A dense scatter (the matrix is used as given: do not change it afterwards)."""
        array = np.asarray(matrix, dtype=np.float64)
        return cls(array.shape[0], dense=array)

    @classmethod
    def _of_factor(cls, d: int, rows: FloatArray, sign: FloatArray) -> Scatter:
        if rows.shape[0] > d:
            return cls(d, dense=(rows * sign[:, None]).T @ rows)
        return cls(d, rows=rows, sign=sign)

    # ------------------------------------------------------------------ views
    @property
    def is_dense(self) -> bool:
        """Whether the d×d matrix is stored."""
        return self.dense is not None

    @property
    def nbytes(self) -> int:
        """Bytes held by its arrays."""
        if self.dense is not None:
            return int(self.dense.nbytes)
        assert self.rows is not None and self.sign is not None
        return int(self.rows.nbytes + self.sign.nbytes)

    def to_dense(self) -> FloatArray:
        """The d×d matrix (a new array for a factor; the stored one when dense)."""
        if self.dense is not None:
            return self.dense
        assert self.rows is not None and self.sign is not None
        return np.asarray((self.rows * self.sign[:, None]).T @ self.rows, dtype=np.float64)

    def trace(self) -> float:
        """``tr S``."""
        if self.dense is not None:
            return float(np.trace(self.dense))
        assert self.rows is not None and self.sign is not None
        return float(self.sign @ np.einsum("ij,ij->i", self.rows, self.rows))

    def quadratic(self, w: FloatArray) -> FloatArray:
        """``wᵀ S w`` for each column of w (d, m): array of shape (m,)."""
        if self.dense is not None:
            return np.asarray(np.einsum("im,im->m", w, self.dense @ w), dtype=np.float64)
        assert self.rows is not None and self.sign is not None
        projected = self.rows @ w
        return np.asarray(self.sign @ projected**2, dtype=np.float64)

    def __matmul__(self, other: FloatArray) -> FloatArray:
        """``S @ other`` for other (d,) or (d, m)."""
        if self.dense is not None:
            return np.asarray(self.dense @ other, dtype=np.float64)
        assert self.rows is not None and self.sign is not None
        projected = self.rows @ other
        weighted = projected * (self.sign if projected.ndim == 1 else self.sign[:, None])
        return np.asarray(self.rows.T @ weighted, dtype=np.float64)

    # ------------------------------------------------------------------ algebra
    def __add__(self, other: Scatter) -> Scatter:
        """``S + other`` (the same d)."""
        if other.n_features != self.n_features:
            msg = f"cannot add scatters of d={self.n_features} and d={other.n_features}"
            raise ValueError(msg)
        if self.dense is not None or other.dense is not None:
            return Scatter.of_dense(self.to_dense() + other.to_dense())
        assert self.rows is not None and other.rows is not None
        assert self.sign is not None and other.sign is not None
        rows = np.concatenate([self.rows, other.rows])
        return Scatter._of_factor(self.n_features, rows, np.concatenate([self.sign, other.sign]))

    def __neg__(self) -> Scatter:
        if self.dense is not None:
            return Scatter.of_dense(-self.dense)
        assert self.rows is not None and self.sign is not None
        return Scatter(self.n_features, rows=self.rows, sign=-self.sign)

    def __sub__(self, other: Scatter) -> Scatter:
        return self + (-other)

    def plus_outer(self, c: float, v: FloatArray) -> Scatter:
        """``S + c·v vᵀ`` for v (d,) (c may be negative)."""
        if c == 0:
            return self
        if self.dense is not None:
            return Scatter.of_dense(self.dense + c * np.outer(v, v))
        row = Scatter(self.n_features, rows=(np.sqrt(abs(c)) * v)[None], sign=np.sign([c]) * 1.0)
        return self + row

    def scaled(self, c: float) -> Scatter:
        """``c·S`` for c ≥ 0."""
        if self.dense is not None:
            return Scatter.of_dense(self.dense * c)
        assert self.rows is not None and self.sign is not None
        return Scatter(self.n_features, rows=self.rows * np.sqrt(c), sign=self.sign)

    def bordered(self, border: FloatArray, corner: float) -> Scatter:
        """The (d+1)×(d+1) matrix ``[[S + b bᵀ/c, b], [bᵀ, c]]`` for b (d,), c > 0: a raw
        ``[X 1]ᵀ[X 1]`` from a centred S (b = Σx, c = W), for the paper's penalised bias."""
        d = self.n_features
        edge = np.append(border, corner) / np.sqrt(corner)
        if self.dense is not None:
            padded = np.zeros((d + 1, d + 1))
            padded[:d, :d] = self.dense
            return Scatter.of_dense(padded + np.outer(edge, edge))
        assert self.rows is not None and self.sign is not None
        rows = np.vstack([np.hstack([self.rows, np.zeros((self.rows.shape[0], 1))]), edge[None]])
        return Scatter._of_factor(d + 1, rows, np.append(self.sign, 1.0))

    # ------------------------------------------------------------------ solving
    def eigen(self) -> Eigen:
        """The eigendecomposition (negative round-off clipped to 0): d×d for a dense scatter,
        thin (from a QR of the factor, O(r²d)) for a factor."""
        if self.dense is not None:
            with lapack_threads(self.n_features):
                values, vectors = np.linalg.eigh(self.dense)
            return Eigen(np.clip(values, 0.0, None), vectors, True)
        assert self.rows is not None and self.sign is not None
        d = self.n_features
        if self.rows.shape[0] == 0:
            return Eigen(np.zeros(0), np.zeros((d, 0)), d == 0)
        with lapack_threads(self.rows.shape[0]):
            q, r = thin_qr(self.rows.T)
            small = (r * self.sign[None, :]) @ r.T
            values, vectors = np.linalg.eigh((small + small.T) / 2)
        return Eigen(np.clip(values, 0.0, None), _times_in_place(q, vectors), q.shape[1] >= d)

    def equals(self, other: Scatter, *, atol: float = 0.0) -> bool:
        """Whether both are the same matrix (exactly, or within `atol`), whatever the form."""
        if other.n_features != self.n_features:
            return False
        if self.dense is None and other.dense is None and atol == 0.0:
            assert self.rows is not None and other.rows is not None
            assert self.sign is not None and other.sign is not None
            same = self.rows.shape == other.rows.shape
            if same and np.array_equal(self.rows, other.rows):
                return bool(np.array_equal(self.sign, other.sign))
        return bool(np.allclose(self.to_dense(), other.to_dense(), rtol=0.0, atol=atol))


_BLOCK_ROWS = 4096


def _times_in_place(q: FloatArray, vectors: FloatArray) -> FloatArray:
    """``q @ vectors`` for q (d, r) and square vectors (r, r), written over q a block of rows
    at a time: no second d × r array (it is the size of the rows: 5 GB at 10,000 × 65,536)."""
    for start in range(0, q.shape[0], _BLOCK_ROWS):
        block = q[start : start + _BLOCK_ROWS]
        block[...] = block @ vectors
    return q
