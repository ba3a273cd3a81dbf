"""Cross-validation of folds kept as rows, from one Gram matrix of every row: no n × d copy per fold.

Scoring a fold's held-out rows from its complement's centred rows Xc (m × d) (`kept_rows`'
dual form) would stack and centre them: two copies of most of the data per fold, and a
complement Gram ``Xc Xcᵀ`` (m² d operations) per fold. Every such Gram is a block of one
matrix. With the rows shifted by the mean μ of all of them, ``G = (X − μ)(X − μ)ᵀ`` (N × N) is
formed once, fold pair by fold pair (two folds' shifted rows alive at a time); for a complement
c of m rows, with ``r = G_cc 1/m`` and ``s = 1ᵀ G_cc 1/m²``, centring on the complement's own
mean is ``K = H G_cc H = G_cc − r1ᵀ − 1rᵀ + s`` (H the centring matrix), and held-out rows Z
score against it through ``A = (Z − μ)(X_c − μ)ᵀ`` as ``A − a1ᵀ − 1rᵀ + s`` (``a = A 1/m``).
The shift by μ keeps the centring well conditioned (the complement's mean is close to μ). The
rest is the dual form of `kept_rows`: ``K = U Λ Uᵀ``, ``ZV = (Z − μ_c) Xcᵀ U Λ^(-1/2)``,
``B = Λ^(1/2) Uᵀ(Y_c − ȳ_c)``. Held-out rows equal to rows of their fold (the usual case: the
held-out sample is the fold's rows, in hash order) reuse G's rows; others are multiplied
against the shifted folds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from ir3de_core.ridge.kept_rows import KeptRows, merged_means, summary_of
from ir3de_core.ridge.linalg import lapack_threads
from ir3de_core.ridge.projected import ProjectedPath, Projection
from ir3de_core.ridge.statistics import SufficientStatistics

__all__ = ["dual_fold_projections"]

FloatArray = NDArray[np.float64]


def dual_fold_projections(
    folds: Sequence[KeptRows | None],
    alphas: Sequence[float],
    rows: Sequence[FloatArray | None],
    *,
    normalize: bool,
) -> list[tuple[SufficientStatistics, ProjectedPath | None]]:
    """For each fold: the summary of the other folds (`KeptRows.summary`) and the centred
    ridge scores of its held-out `rows` (n_f, d) along `alphas` when trained on them (the
    dense path's numbers, to rounding).

    Raises:
        ValueError: a fold has no data outside it.
    """
    kept = [f for f in folds if f is not None]
    if not kept:
        msg = "cross-validation needs data outside every fold"
        raise ValueError(msg)
    shift = merged_means(kept)[0]
    gram, spans = _shifted_gram(folds, shift)
    out: list[tuple[SufficientStatistics, ProjectedPath | None]] = []
    for f, fold in enumerate(folds):
        others = [g for g, s in enumerate(folds) if s is not None and (g != f or fold is None)]
        if not others:
            msg = "cross-validation needs data outside every fold"
            raise ValueError(msg)
        parts = [folds[g] for g in others]
        names, design, d = kept[0].names, kept[0].design, kept[0].n_features
        mean_x, mean_y = merged_means(parts)  # type: ignore[arg-type]
        y = np.concatenate([p.y for p in parts if p is not None])
        summary = summary_of(names, design, d, y, mean_x, mean_y)
        held = rows[f]
        projected = None
        if held is not None:
            index = np.concatenate([np.arange(*spans[g]) for g in others])
            against = _held_gram(held, fold, gram, spans[f], index, folds, others, shift)
            projected = _projected(gram[np.ix_(index, index)], against, y, mean_y, alphas,
                                   normalize=normalize)  # fmt: skip
        out.append((summary, projected))
    return out


def _shifted_gram(
    folds: Sequence[KeptRows | None], shift: FloatArray
) -> tuple[FloatArray, list[tuple[int, int]]]:
    """``(X − μ)(X − μ)ᵀ`` (N × N) of every fold's rows in order, and each fold's row span."""
    spans, start = [], 0
    for fold in folds:
        size = 0 if fold is None else fold.n_rows
        spans.append((start, start + size))
        start += size
    gram = np.empty((start, start))
    for f, fold in enumerate(folds):
        if fold is None:
            continue
        a = fold.x - shift
        rf = slice(*spans[f])
        gram[rf, rf] = a @ a.T
        for g in range(f + 1, len(folds)):
            other = folds[g]
            if other is None:
                continue
            rg = slice(*spans[g])
            gram[rf, rg] = a @ (other.x - shift).T
            gram[rg, rf] = gram[rf, rg].T
    return gram, spans


def _held_gram(
    held: FloatArray,
    fold: KeptRows | None,
    gram: FloatArray,
    span: tuple[int, int],
    index: NDArray[np.intp],
    folds: Sequence[KeptRows | None],
    others: Sequence[int],
    shift: FloatArray,
) -> FloatArray:
    """``(Z − μ)(X_c − μ)ᵀ`` (n_h × m): G's rows for held rows equal to a row of the fold (the
    held-out sample is the fold's rows in hash order), multiplied against the shifted folds for
    the others."""
    z = np.asarray(held, dtype=np.float64)
    found = _positions_in(z, fold.x) if fold is not None else np.full(z.shape[0], -1)
    have = found >= 0
    if have.all():
        return np.asarray(gram[np.ix_(span[0] + found, index)])
    out = np.empty((z.shape[0], index.size))
    out[have] = gram[np.ix_(span[0] + found[have], index)]
    shifted = z[~have] - shift
    blocks = [shifted @ (folds[g].x - shift).T for g in others]  # type: ignore[union-attr]
    out[~have] = np.concatenate(blocks, axis=1)
    return out


def _positions_in(z: FloatArray, x: FloatArray) -> NDArray[np.intp]:
    """For each row of z (n_z, d), the index of a row of x (m, d) equal to it, or −1: rows are
    paired by a random projection (sorted, nearest either side) and checked for equality, so
    a pairing is never wrong, only possibly missed (then the row is multiplied)."""
    out = np.full(z.shape[0], -1, dtype=np.intp)
    if z.shape[1] != x.shape[1] or not x.shape[0]:
        return out
    probe = np.random.default_rng(0).standard_normal(x.shape[1])
    keys = x @ probe
    order = np.argsort(keys, kind="stable")
    near = np.searchsorted(keys[order], z @ probe)
    for i, at in enumerate(near.tolist()):
        for j in (at, at - 1):
            if 0 <= j < order.size and np.array_equal(z[i], x[order[j]]):
                out[i] = order[j]
                break
    return out


def _projected(
    shifted: FloatArray,
    against: FloatArray,
    y: FloatArray,
    mean_y: FloatArray,
    alphas: Sequence[float],
    *,
    normalize: bool,
) -> ProjectedPath:
    """The dual-form path of a complement from its shifted Gram (m × m, overwritten) and the
    held rows' shifted products with it (n_h × m): see the module docstring."""
    m = shifted.shape[0]
    r = shifted.mean(axis=1)
    s = float(r.mean())
    kernel = shifted  # a block copied out of the Gram: centred in place (no second m × m)
    kernel -= r[:, None]
    kernel -= r[None, :]
    kernel += s
    cross = against - against.mean(axis=1)[:, None] - r[None, :] + s
    with lapack_threads(m):
        values, vectors = np.linalg.eigh(kernel)
    keep = values > float(values.max(initial=0.0)) * m * 1e-15
    values, vectors = values[keep], vectors[:, keep]
    root = np.sqrt(values)
    zv = (cross @ vectors) / root
    b = root[:, None] * (vectors.T @ (y - mean_y))
    k = y.shape[1]
    part = Projection(list(range(k)), values, True, zv, b, np.zeros((zv.shape[0], 0)),
                      np.zeros(0), mean_y)  # fmt: skip
    return ProjectedPath(tuple(float(a) for a in alphas), zv.shape[0], k, normalize, (part,))
