"""`SufficientStatistics` as a flat mapping of arrays (for router files and checkpoints), and back.

Layout (``prefix`` is ``"stats_"`` in a router file): per group ``block`` (k,), ``mean_y``,
``cross`` (k, d), ``n_rows``, ``n_prompts``, ``y_min``, ``y_max``; per block ``block_weight``
(b,), ``block_mean`` (b, d), ``block_dense`` (b,) (the index of its dense scatter in
``scatter_dense`` (n_dense, d, d), or -1 when factored) and ``block_rows`` (b + 1,) (the offsets
of its factor rows in ``scatter_rows`` (R, d) and ``scatter_sign`` (R,)). Everything read back
is checked: dtypes, shapes, index ranges, finite values. Files of the earlier layouts load too:
per-group dense scatters (``scatter`` (k, d, d), ir3de 0.2) and uncentred sums (ir3de 0.1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ir3de_core.ridge.moments import RowMoments
from ir3de_core.ridge.scatter import Scatter
from ir3de_core.ridge.statistics import Design, SufficientStatistics

__all__ = [
    "INT_FIELDS",
    "statistics_arrays",
    "statistics_from_arrays",
    "statistics_from_raw",
]

INT_FIELDS = frozenset({"block", "n_rows", "n_prompts", "block_dense", "block_rows"})
"""Fields stored as int64 (every other one is float64)."""

_GROUP = ("block", "mean_y", "cross", "n_rows", "n_prompts", "y_min", "y_max")
_BLOCKS = ("block_weight", "block_mean", "block_dense", "block_rows")
_SCATTERS = ("scatter_dense", "scatter_rows", "scatter_sign")
_LEGACY = ("weight", "mean_x", "mean_y", "scatter", "cross", "n_rows", "n_prompts")


def statistics_arrays(stats: SufficientStatistics, prefix: str = "stats_") -> dict[str, np.ndarray]:
    """The arrays of `stats` (names and design are stored by the caller)."""
    d = stats.n_features
    dense = [b.scatter.dense for b in stats.blocks if b.scatter.dense is not None]
    index: list[int] = []
    offsets, rows, signs = [0], [], []
    for b in stats.blocks:
        scatter = b.scatter
        index.append(sum(i >= 0 for i in index) if scatter.is_dense else -1)
        if scatter.rows is not None and scatter.sign is not None:
            rows.append(scatter.rows)
            signs.append(scatter.sign)
        offsets.append(offsets[-1] + (0 if scatter.rows is None else scatter.rows.shape[0]))
    out = {f: getattr(stats, f) for f in _GROUP}
    out.update(
        block_weight=np.array([b.weight for b in stats.blocks], dtype=np.float64),
        block_mean=np.array([b.mean for b in stats.blocks], dtype=np.float64).reshape(-1, d),
        block_dense=np.array(index, dtype=np.int64),
        block_rows=np.array(offsets, dtype=np.int64),
        scatter_dense=np.array(dense, dtype=np.float64).reshape(-1, d, d),
        scatter_rows=np.concatenate(rows) if rows else np.zeros((0, d)),
        scatter_sign=np.concatenate(signs) if signs else np.zeros(0),
    )
    return {prefix + k: v for k, v in out.items()}


def statistics_from_arrays(
    arrays: dict[str, np.ndarray], names: Sequence[str], design: Design, prefix: str = "stats_"
) -> SufficientStatistics:
    """Inverse of `statistics_arrays` (or the 0.2 layout of per-group dense scatters).

    Raises:
        ValueError: a missing array, a wrong dtype or shape, an index out of range, or a
            non-finite value, naming the array.
    """
    if prefix + "scatter" in arrays:
        return _from_legacy(arrays, names, design, prefix)
    a = {f: _checked(arrays, prefix, f) for f in (*_GROUP, *_BLOCKS, *_SCATTERS)}
    k, d = len(names), a["cross"].shape[-1] if a["cross"].ndim == 2 else -1
    b = a["block_weight"].shape[0] if a["block_weight"].ndim == 1 else -1
    _shape(prefix, "cross", a["cross"], (k, d))
    for f in ("block", "mean_y", "n_rows", "n_prompts", "y_min", "y_max"):
        _shape(prefix, f, a[f], (k,))
    _shape(prefix, "block_mean", a["block_mean"], (b, d))
    _shape(prefix, "block_dense", a["block_dense"], (b,))
    _shape(prefix, "block_rows", a["block_rows"], (b + 1,))
    n_dense, n_rows = a["scatter_dense"].shape[0], a["scatter_rows"].shape[0]
    _shape(prefix, "scatter_dense", a["scatter_dense"], (n_dense, d, d))
    _shape(prefix, "scatter_rows", a["scatter_rows"], (n_rows, d))
    _shape(prefix, "scatter_sign", a["scatter_sign"], (n_rows,))
    offsets, dense_index = a["block_rows"], a["block_dense"]
    if offsets[0] != 0 or offsets[-1] != n_rows or (np.diff(offsets) < 0).any():
        msg = f"{prefix}block_rows are not increasing offsets into {n_rows} factor rows"
        raise ValueError(msg)
    if (dense_index >= n_dense).any() or (dense_index < -1).any():
        msg = f"{prefix}block_dense points outside the {n_dense} dense scatters"
        raise ValueError(msg)
    if not np.isin(np.abs(a["scatter_sign"]), (1.0,)).all():
        msg = f"{prefix}scatter_sign must hold ±1"
        raise ValueError(msg)
    blocks = []
    for i in range(b):
        if dense_index[i] >= 0:
            scatter = Scatter.of_dense(a["scatter_dense"][dense_index[i]])
        else:
            rows = slice(int(offsets[i]), int(offsets[i + 1]))
            scatter = Scatter(d, rows=a["scatter_rows"][rows], sign=a["scatter_sign"][rows])
        blocks.append(RowMoments(float(a["block_weight"][i]), a["block_mean"][i], scatter))
    return SufficientStatistics(
        tuple(names), design, d, tuple(blocks), a["block"], a["mean_y"], a["cross"],
        a["n_rows"], a["n_prompts"], a["y_min"], a["y_max"],
    )  # fmt: skip


def statistics_from_raw(
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
    scatter = np.asarray(xtx, dtype=np.float64) - w[:, None, None] * outer
    cross = np.asarray(xty, dtype=np.float64) - (w * mean_y)[:, None] * mean_x
    return _per_group(names, design, w, mean_x, mean_y, scatter, cross, n_rows, n_prompts)


def _from_legacy(
    arrays: dict[str, np.ndarray], names: Sequence[str], design: Design, prefix: str
) -> SufficientStatistics:
    a = {f: _checked(arrays, prefix, f) for f in _LEGACY}
    k, d = len(names), a["mean_x"].shape[-1]
    for f, shape in {
        "weight": (k,), "mean_x": (k, d), "mean_y": (k,), "scatter": (k, d, d),
        "cross": (k, d), "n_rows": (k,), "n_prompts": (k,),
    }.items():  # fmt: skip
        _shape(prefix, f, a[f], shape)
    return _per_group(names, design, a["weight"], a["mean_x"], a["mean_y"], a["scatter"],
                      a["cross"], a["n_rows"], a["n_prompts"])  # fmt: skip


def _per_group(
    names: Sequence[str],
    design: Design,
    weight: NDArray[np.float64],
    mean_x: NDArray[np.float64],
    mean_y: NDArray[np.float64],
    scatter: NDArray[np.float64],
    cross: NDArray[np.float64],
    n_rows: ArrayLike,
    n_prompts: ArrayLike,
) -> SufficientStatistics:
    """Statistics from per-group dense moments; groups with identical designs share a block."""
    k, d = len(names), mean_x.shape[1]
    block = np.full(k, -1, dtype=np.int64)
    blocks: list[RowMoments] = []
    for j in range(k):
        if weight[j] <= 0:
            continue
        same = next(
            (i for i, b in enumerate(blocks) if b.weight == weight[j]
             and np.array_equal(b.mean, mean_x[j]) and b.scatter.dense is not None
             and np.array_equal(b.scatter.dense, scatter[j])),
            None,
        )  # fmt: skip
        if same is None:
            same = len(blocks)
            blocks.append(RowMoments(float(weight[j]), mean_x[j], Scatter.of_dense(scatter[j])))
        block[j] = same
    return SufficientStatistics(
        tuple(names), design, d, tuple(blocks), block, np.asarray(mean_y, dtype=np.float64),
        np.asarray(cross, dtype=np.float64), np.asarray(n_rows, dtype=np.int64),
        np.asarray(n_prompts, dtype=np.int64),
    )  # fmt: skip


def _checked(arrays: dict[str, np.ndarray], prefix: str, field: str) -> np.ndarray:
    name = prefix + field
    if name not in arrays:
        msg = f"the statistics have no array {name!r}"
        raise ValueError(msg)
    array = arrays[name]
    dtype = np.int64 if field in INT_FIELDS else np.float64
    if array.dtype != dtype:
        msg = f"{name} has dtype {array.dtype}, expected {np.dtype(dtype)}"
        raise ValueError(msg)
    if dtype == np.float64 and field not in ("y_min", "y_max") and not np.isfinite(array).all():
        msg = f"{name} holds NaN or inf"
        raise ValueError(msg)
    return array


def _shape(prefix: str, field: str, array: np.ndarray, shape: tuple[int, ...]) -> None:
    if array.shape != shape:
        msg = f"{prefix}{field} has shape {array.shape}, expected {shape}"
        raise ValueError(msg)
