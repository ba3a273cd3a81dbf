"""Accumulating rows into `SufficientStatistics`: feature rows, or token rows from their counts.

Groups whose rows are the same (the same non-missing targets, the same weights) share one design
block: its weight, mean and scatter are computed once for all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ir3de_core.ridge.moments import RowMoments, row_moments
from ir3de_core.ridge.scatter import Scatter
from ir3de_core.ridge.statistics import Design, SufficientStatistics

__all__ = ["from_rows", "from_token_counts"]

FloatArray = NDArray[np.float64]


def from_rows(
    X: ArrayLike,
    targets: ArrayLike,
    names: Sequence[str],
    *,
    design: Design,
    sample_weight: ArrayLike | None = None,
    prompt_index: ArrayLike | None = None,
    overwrite_rows: bool = False,
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
        overwrite_rows: X (float64) may be centred in place when every group has every row,
            and become the scatter's factor: no n × d copy (the caller no longer uses X).
    """
    x, y, w, prompts = _checked_rows(X, targets, len(names), sample_weight, prompt_index)
    present = ~np.isnan(y)
    if design == "shared" and not np.all(present.sum(axis=1) == 1):
        msg = "in the shared (domain) design every row needs exactly one group"
        raise ValueError(msg)
    k, d = len(names), x.shape[1]
    out = SufficientStatistics.empty(names, d, design)
    patterns = _row_patterns(present)
    if len(patterns) == 1 and len(patterns[0][1]) == k and present.all():
        return _one_block(out, x, y, w, prompts, overwrite=overwrite_rows)
    block = np.full(k, -1, dtype=np.int64)
    blocks: list[RowMoments] = []
    mean_y, cross = np.zeros(k), np.zeros((k, d))
    distinct = np.zeros(k, dtype=np.int64)
    for pattern, columns in patterns:
        distinct[columns] = len(np.unique(prompts[pattern]))  # groups of a pattern share rows
        moments = row_moments(x[pattern], y[np.ix_(pattern, columns)], w[pattern])
        if moments is None:
            continue
        block[columns] = len(blocks)
        blocks.append(moments[0])
        mean_y[columns], cross[columns] = moments[1].mean_y, moments[1].cross
    filled = np.where(present, y, np.nan)
    with np.errstate(invalid="ignore"):
        lo, hi = (
            np.nanmin(filled, axis=0, initial=np.inf),
            np.nanmax(filled, axis=0, initial=-np.inf),
        )
    return replace(
        out, blocks=tuple(blocks), block=block, mean_y=mean_y, cross=cross,
        n_rows=present.sum(axis=0).astype(np.int64), n_prompts=distinct,
        y_min=lo, y_max=hi,
    )  # fmt: skip


def _one_block(
    out: SufficientStatistics,
    x: FloatArray,
    y: FloatArray,
    w: FloatArray,
    prompts: NDArray[np.int64],
    *,
    overwrite: bool,
) -> SufficientStatistics:
    """`from_rows` when every group has every row (experts scored on the same prompts): the
    block's cross-products are the statistics', without a k × d gather."""
    n, k = y.shape
    moments = row_moments(x, y, w, overwrite=overwrite)
    if moments is not None:
        out = replace(out, blocks=(moments[0],), block=np.zeros(k, dtype=np.int64),
                      mean_y=moments[1].mean_y, cross=moments[1].cross)  # fmt: skip
    return replace(
        out, n_rows=np.full(k, n, dtype=np.int64),
        n_prompts=np.full(k, len(np.unique(prompts)), dtype=np.int64),
        y_min=y.min(axis=0, initial=np.inf), y_max=y.max(axis=0, initial=-np.inf),
    )  # fmt: skip


def _row_patterns(present: NDArray[np.bool_]) -> list[tuple[NDArray[np.bool_], NDArray[np.intp]]]:
    """The distinct columns of `present` (n_rows, k), each with the groups that have it (groups
    with the same rows share one block). Hashing the packed bits is O(n·k), where sorting the
    columns (``np.unique(axis=0)``) costs O(n·k·log k)."""
    packed = np.packbits(present, axis=0).T  # (k, ⌈n/8⌉)
    members: dict[bytes, list[int]] = {}
    for j, key in enumerate(packed):
        members.setdefault(key.tobytes(), []).append(j)
    return [(present[:, m[0]], np.array(m, dtype=np.intp)) for m in members.values()]


def from_token_counts(
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
    """Statistics of token rows given only how often (and with what target) each token occurs.

    Token rows are rows of an embedding table E, so ``S = (E − x̄)ᵀ diag(c) (E − x̄)`` over
    the tokens used, where ``c`` holds the summed weight of each token id: no per-token row
    is ever materialised, and groups with the same counts share one block.

    Args:
        table: array of shape (vocab, d), the embedding table E.
        counts: array of shape (k, vocab), summed row weight per group and token id.
        target_counts: array of shape (k, vocab), summed ``w * y`` per group and token id.
        names: the k group names.
        design: ``"shared"`` or ``"per_group"``.
        n_rows: array of shape (k,), token rows per group.
        n_prompts: array of shape (k,), prompts per group.
        target_range: arrays of shape (k,), each group's smallest and largest target.
    """
    E = np.asarray(table)
    c = np.asarray(counts, dtype=np.float64)
    cy = np.asarray(target_counts, dtype=np.float64)
    k, d = len(names), E.shape[1]
    block = np.full(k, -1, dtype=np.int64)
    blocks: list[RowMoments] = []
    mean_y, cross = np.zeros(k), np.zeros((k, d))
    seen: dict[bytes, int] = {}
    for j in range(k):
        used = np.flatnonzero((c[j] != 0) | (cy[j] != 0))
        w = float(c[j, used].sum())
        if w <= 0:
            continue
        key = used.tobytes() + c[j, used].tobytes()
        rows = E[used].astype(np.float64)
        if key not in seen:  # experts scored on the same prompts share one block
            mean = c[j, used] @ rows / w
            seen[key] = len(blocks)
            blocks.append(RowMoments(w, mean, Scatter.of_rows(rows - mean, c[j, used])))
        block[j] = seen[key]
        mean_y[j] = float(cy[j, used].sum()) / w
        cross[j] = (cy[j, used] - c[j, used] * mean_y[j]) @ (rows - blocks[block[j]].mean)
    lo, hi = target_range if target_range is not None else (np.full(k, np.inf), np.full(k, -np.inf))
    return SufficientStatistics(
        tuple(names), design, d, tuple(blocks), block, mean_y, cross,
        np.asarray(n_rows, dtype=np.int64), np.asarray(n_prompts, dtype=np.int64),
        np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64),
    )  # fmt: skip


def _checked_rows(
    X: ArrayLike,
    targets: ArrayLike,
    k: int,
    sample_weight: ArrayLike | None,
    prompt_index: ArrayLike | None,
) -> tuple[FloatArray, FloatArray, FloatArray, NDArray[np.int64]]:
    features = np.asarray(X, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64)
    if features.ndim != 2:
        msg = f"X must have shape (n_rows, d), got {features.shape}"
        raise ValueError(msg)
    n = features.shape[0]
    if y.shape != (n, k):
        msg = f"targets must have shape ({n}, {k}) (one column per group), got {y.shape}"
        raise ValueError(msg)
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    prompts = np.arange(n) if prompt_index is None else np.asarray(prompt_index)
    if w.shape != (n,) or prompts.shape != (n,):
        msg = f"sample_weight and prompt_index must have shape ({n},)"
        raise ValueError(msg)
    return features, y, w, prompts
