"""Adding and subtracting `SufficientStatistics`: a block per distinct pair of blocks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ir3de_core.ridge.moments import GroupMoments, RowMoments, merge_groups, unmerge_groups
from ir3de_core.ridge.statistics import SufficientStatistics

if TYPE_CHECKING:
    from ir3de_core.ridge.kept_rows import KeptRows

__all__ = ["combine", "equal", "reindexed", "total_of"]


def combine(
    a: SufficientStatistics, b: SufficientStatistics, *, subtract: bool, into: bool = False
) -> SufficientStatistics:
    """``a + b`` or ``a − b`` of statistics with the same names in the same order: a block per
    distinct pair of blocks the groups come from. With `into` (an addition whose `a` the
    caller owns and drops), a's cross-products may be overwritten with the result's."""
    k, d = len(a.names), a.n_features
    grouped: dict[tuple[int, int], list[int]] = {}
    for j, pair in enumerate(zip(a.block.tolist(), b.block.tolist(), strict=True)):
        if pair != (-1, -1):
            grouped.setdefault(pair, []).append(j)
    if len(grouped) == 1 and len(next(iter(grouped.values()))) == k:
        # one pair of blocks for every group (experts scored on the same prompts): no k × d
        # gathers or scatters, the merged cross-products are the result
        return _whole(a, b, next(iter(grouped)), subtract, into and not subtract)
    block = np.full(k, -1, dtype=np.int64)
    blocks: list[RowMoments] = []
    mean_y, cross = np.zeros(k), np.zeros((k, d))
    for (ia, ib), members in grouped.items():
        columns = np.array(members)
        result = _step(a, b, (ia, ib), columns, subtract, into=False)
        if result is None:
            continue
        rows, groups = result
        block[columns] = len(blocks)
        blocks.append(rows)
        mean_y[columns], cross[columns] = groups.mean_y, groups.cross
    return _assembled(a, b, subtract, tuple(blocks), block, mean_y, cross)


def total_of(
    parts: Iterable[SufficientStatistics | KeptRows | None],
) -> SufficientStatistics | None:
    """The sum of `parts` (None where a part is None; None if all are): after the first
    addition the running sum owns its cross-products, and each later part of the same groups
    is added into them, so a sum of many parts allocates one k × d array, not one per part.
    Parts kept as rows (`KeptRows`) are stacked first and their statistics formed once."""
    total: SufficientStatistics | None = None
    owned = False
    for part in _rows_stacked(parts):
        if part is None:
            continue
        if total is None:
            total = part
        elif owned and total.names == part.names:
            total._check_compatible(part)
            total = combine(total, part, subtract=False, into=True)
            owned = not np.may_share_memory(total.cross, part.cross)
        else:
            inputs = (total.cross, part.cross)
            total = total + part
            owned = not any(np.may_share_memory(total.cross, c) for c in inputs)
    return total


def _rows_stacked(
    parts: Iterable[SufficientStatistics | KeptRows | None],
) -> list[SufficientStatistics]:
    """`parts` as statistics: the kept rows of each set of groups stacked into one (first),
    then the parts that are statistics already, in order."""
    from ir3de_core.ridge.kept_rows import KeptRows, stacked

    kept: dict[tuple[object, ...], list[KeptRows]] = {}
    others: list[SufficientStatistics] = []
    for part in parts:
        if isinstance(part, KeptRows):
            kept.setdefault((part.names, part.design, part.n_features), []).append(part)
        elif part is not None:
            others.append(part)
    # rows stacked from several parts are a new array, centred in place into the factor
    totals = [stacked(rows).statistics(consume=len(rows) > 1) for rows in kept.values()]
    return totals + others


def _groups(stats: SufficientStatistics, columns: NDArray[np.int64] | None) -> GroupMoments:
    if columns is None:
        return GroupMoments(stats.mean_y, stats.cross)
    return GroupMoments(stats.mean_y[columns], stats.cross[columns])


def _step(
    a: SufficientStatistics,
    b: SufficientStatistics,
    pair: tuple[int, int],
    columns: NDArray[np.int64] | None,
    subtract: bool,
    *,
    into: bool,
) -> tuple[RowMoments, GroupMoments] | None:
    """The moments of the groups `columns` (None: every group) that come from blocks `pair`
    of a and b (-1: none) after the addition or subtraction; None when no row is left."""
    ia, ib = pair
    if ib < 0:  # only in a: unchanged
        return a.blocks[ia], _groups(a, columns)
    if ia < 0 and subtract:
        names = list(a.names) if columns is None else [a.names[j] for j in columns]
        msg = f"cannot remove rows of {names} that are not here"
        raise ValueError(msg)
    if ia < 0:
        return b.blocks[ib], _groups(b, columns)
    ga, gb = _groups(a, columns), _groups(b, columns)
    if subtract:
        return unmerge_groups(a.blocks[ia], ga, b.blocks[ib], gb)
    return merge_groups(a.blocks[ia], ga, b.blocks[ib], gb, into=into)


def _whole(
    a: SufficientStatistics,
    b: SufficientStatistics,
    pair: tuple[int, int],
    subtract: bool,
    into: bool,
) -> SufficientStatistics:
    """`combine` when every group comes from the same pair of blocks: the merged moments are
    the result's, with no k × d gather."""
    if pair[1] < 0:
        return a
    k, d = len(a.names), a.n_features
    result = _step(a, b, pair, None, subtract, into=into)
    if result is None:
        empty = np.full(k, -1, dtype=np.int64)
        return _assembled(a, b, subtract, (), empty, np.zeros(k), np.zeros((k, d)))
    rows, groups = result
    block = np.zeros(k, dtype=np.int64)
    return _assembled(a, b, subtract, (rows,), block, groups.mean_y, groups.cross)


def _assembled(
    a: SufficientStatistics,
    b: SufficientStatistics,
    subtract: bool,
    blocks: tuple[RowMoments, ...],
    block: NDArray[np.int64],
    mean_y: NDArray[np.float64],
    cross: NDArray[np.float64],
) -> SufficientStatistics:
    """The statistics of ``a ± b`` from their merged blocks and group moments (counts add or
    subtract; the target range widens on addition and is kept on subtraction)."""
    sign = -1 if subtract else 1
    lo = a.y_min if subtract else np.minimum(a.y_min, b.y_min)
    hi = a.y_max if subtract else np.maximum(a.y_max, b.y_max)
    return SufficientStatistics(
        a.names, a.design, a.n_features, blocks, block, np.asarray(mean_y),
        np.asarray(cross), a.n_rows + sign * b.n_rows, a.n_prompts + sign * b.n_prompts,
        lo, hi,
    )  # fmt: skip


def reindexed(self: SufficientStatistics, names: tuple[str, ...]) -> SufficientStatistics:
    """Statistics for `names`: existing groups are kept, new groups are empty, blocks no
    group uses any more are dropped."""
    k, d = len(names), self.n_features
    where = {n: i for i, n in enumerate(self.names)}
    src = np.array([where.get(n, -1) for n in names], dtype=np.int64)
    has = src >= 0
    old = np.where(has, self.block[np.maximum(src, 0)] if len(self.names) else -1, -1)
    kept = sorted(set(old[old >= 0].tolist()))
    renumber = {b: i for i, b in enumerate(kept)}
    block = np.array([renumber.get(int(b), -1) for b in old], dtype=np.int64)

    def take(values: NDArray[Any], fill: float) -> NDArray[Any]:
        out = np.full((k, *values.shape[1:]), fill, dtype=values.dtype)
        out[has] = values[src[has]]
        return out

    return SufficientStatistics(
        names, self.design, d, tuple(self.blocks[b] for b in kept), block,
        take(self.mean_y, 0.0), take(self.cross, 0.0), take(self.n_rows, 0),
        take(self.n_prompts, 0), take(self.y_min, np.inf), take(self.y_max, -np.inf),
    )  # fmt: skip


def equal(self: SufficientStatistics, other: SufficientStatistics, *, atol: float = 0.0) -> bool:
    """True when names, design and every group's regression statistics agree (exactly, or
    within `atol`), however the groups are grouped into blocks (the target ranges, which
    old files do not have, are not compared)."""
    if (self.names, self.design, self.n_features) != (
        other.names,
        other.design,
        other.n_features,
    ):
        return False
    for f in ("mean_y", "cross", "n_rows", "n_prompts"):
        mine, theirs = getattr(self, f), getattr(other, f)
        if not np.allclose(mine, theirs, rtol=0.0, atol=atol, equal_nan=True):
            return False
    checked: dict[tuple[int, int], bool] = {}
    for a, b in zip(self.block.tolist(), other.block.tolist(), strict=True):
        if (a < 0) != (b < 0):
            return False
        if a >= 0 and (a, b) not in checked:
            checked[a, b] = self.blocks[a].equals(other.blocks[b], atol=atol)
            if not checked[a, b]:
                return False
    return True
