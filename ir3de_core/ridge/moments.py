"""The algebra of centred moments: merge two sets (Chan, Golub and LeVeque, 1979) and undo it.

Moments of one or more groups are the tuple (weight W (k,), mean x̄ (k, d), mean ȳ (k,),
scatter S = Σ w (x − x̄)(x − x̄)ᵀ (k, d, d), cross C = Σ w (x − x̄)(y − ȳ) (k, d)). Merging adds
``δδᵀ·WaWb/W`` to the summed scatters, with δ the difference of the means, so no precision is
lost to a large common offset of the features.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["Moments", "group_moments", "merge_moments", "unmerge_moments"]

FloatArray = NDArray[np.float64]
Moments = tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]


def merge_moments(a: Moments, b: Moments) -> Moments:
    """Chan's pairwise merge of per-group moments, vectorised over groups.

    Args:
        a: (weight (k,), mean_x (k, d), mean_y (k,), scatter (k, d, d), cross (k, d)).
        b: the same for other data.

    Returns:
        the moments of the union, same shapes. Groups with no weight on both sides stay zero.
    """
    wa, ma, ya, sa, ca = a
    wb, mb, yb, sb, cb = b
    w = wa + wb
    safe = np.where(w > 0, w, 1.0)
    share = np.where(w > 0, wb / safe, 0.0)
    coupling = np.where(w > 0, wa * wb / safe, 0.0)
    dx, dy = mb - ma, yb - ya
    mean_x = ma + dx * share[:, None]
    mean_y = ya + dy * share
    scatter = sa + sb + coupling[:, None, None] * (dx[:, :, None] * dx[:, None, :])
    cross = ca + cb + (coupling * dy)[:, None] * dx
    return w, mean_x, mean_y, scatter, cross


def unmerge_moments(whole: Moments, part: Moments) -> Moments:
    """The moments of `whole` without the rows of `part` (the inverse of `merge_moments`).

    Raises:
        ValueError: `part` weighs more than `whole` in some group (it is not a part of it).
    """
    w, m, y, s, c = whole
    wb, mb, yb, sb, cb = part
    wa = w - wb
    if (wa < -1e-9 * np.maximum(w, 1.0)).any():
        msg = "the statistics to subtract weigh more than these: they are not a part of them"
        raise ValueError(msg)
    wa = np.where(wa > 0, wa, 0.0)
    safe = np.where(wa > 0, wa, 1.0)
    mean_x = np.where((wa > 0)[:, None], (w[:, None] * m - wb[:, None] * mb) / safe[:, None], 0.0)
    mean_y = np.where(wa > 0, (w * y - wb * yb) / safe, 0.0)
    coupling = np.where(w > 0, wa * wb / np.where(w > 0, w, 1.0), 0.0)
    dx, dy = mb - mean_x, yb - mean_y
    scatter = s - sb - coupling[:, None, None] * (dx[:, :, None] * dx[:, None, :])
    cross = c - cb - (coupling * dy)[:, None] * dx
    return wa, mean_x, mean_y, scatter, cross


def group_moments(
    x: FloatArray, y: FloatArray, w: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """One group's moments of m rows x (m, d), targets y (m,), weights w (m,), centred exactly
    (each array with a leading group axis of length 1)."""
    total = float(w.sum())
    if total <= 0:
        d = x.shape[1]
        return (np.zeros(1), np.zeros((1, d)), np.zeros(1), np.zeros((1, d, d)), np.zeros((1, d)))
    mean_x = w @ x / total
    mean_y = float(w @ y) / total
    centred = x - mean_x
    scatter = (centred * w[:, None]).T @ centred
    cross = centred.T @ (w * (y - mean_y))
    return (np.array([total]), mean_x[None], np.array([mean_y]), scatter[None], cross[None])
