"""How unsure a ridge router is of each expert's predicted quality: the spread exploration uses.

Expert j's quality is fitted by ridge with an unpenalised, centred intercept from its centred
statistics (weight W_j, mean x̄_j, scatter S_j). With Gaussian noise of scale σ the prediction
``x·w_j + b_j`` has variance ``σ² h_j(x)`` with

    h_j(x) = 1 / W_j + (x − x̄_j)ᵀ (S_j + αI)⁻¹ (x − x̄_j),

which is ``[1, x]ᵀ M⁻¹ [1, x]`` for the uncentred system ``M = [[W, Σx], [Σx, XᵀX + αI]]``
(intercept unpenalised) by the Schur complement. The spread is √h: LinUCB adds
``strength · √h`` to each score, Thompson sampling draws scores from ``N(q, strength² h)``.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ir3de_core.ridge.linalg import lapack_threads
from ir3de_core.ridge.moments import RowMoments
from ir3de_core.ridge.statistics import SufficientStatistics

__all__ = ["MAX_EXPLORE_FEATURES", "prediction_spread", "state_spread"]

MAX_EXPLORE_FEATURES = 4096
"""Widest feature rows exploration accepts: it keeps one d×d inverse per expert."""

_CACHE: weakref.WeakKeyDictionary[RowMoments, dict[float, NDArray[np.float64]]] = (
    weakref.WeakKeyDictionary()
)
_LOCK = threading.Lock()


def _block_inverse(block: RowMoments, alpha: float) -> NDArray[np.float64]:
    """``(S + αI)⁻¹`` of a design block, computed once per block (blocks are immutable and
    shared by the statistics an update leaves unchanged): shape (d, d)."""
    with _LOCK:
        known = _CACHE.get(block, {}).get(alpha)
    if known is not None:
        return known
    d = block.mean.shape[0]
    system = block.scatter.to_dense().copy()
    system.flat[:: d + 1] += alpha
    with lapack_threads(d):
        inverse = np.asarray(np.linalg.inv(system), dtype=np.float64)
    with _LOCK:
        _CACHE.setdefault(block, {})[alpha] = inverse
    return inverse


def _inverses(statistics: SufficientStatistics, alpha: float) -> list[NDArray[np.float64] | None]:
    """``(S_j + αI)⁻¹`` of each expert, None for an expert without data: k arrays (d, d)."""
    return [
        None if b < 0 else _block_inverse(statistics.blocks[b], alpha)
        for b in statistics.block.tolist()
    ]


def _check(statistics: SufficientStatistics, alpha: float) -> None:
    if statistics.design != "per_group":
        msg = "exploration needs a quality-mode router (per-expert statistics)"
        raise ValueError(msg)
    if statistics.n_features > MAX_EXPLORE_FEATURES:
        msg = (
            f"exploration keeps a {statistics.n_features}² inverse per expert; use feature rows "
            f"of at most {MAX_EXPLORE_FEATURES} columns (e.g. hashing with fewer n_features)"
        )
        raise ValueError(msg)
    if not alpha > 0:
        msg = f"exploration needs a ridge penalty alpha > 0, got {alpha}"
        raise ValueError(msg)


def prediction_spread(
    statistics: SufficientStatistics,
    alpha: float,
    features: NDArray[np.float64],
    inverses: list[NDArray[np.float64] | None] | None = None,
) -> NDArray[np.float64]:
    """√h_j(x) of every prompt and expert (see the module docstring).

    Args:
        statistics: quality-mode (``per_group``) statistics of row features.
        alpha: the ridge penalty α > 0 the router was solved with.
        features: array of shape (n, d).
        inverses: ``(S_j + αI)⁻¹`` per expert when already known.

    Returns:
        array of shape (n, k); ``inf`` for an expert without any data.
    """
    _check(statistics, alpha)
    inverses = _inverses(statistics, alpha) if inverses is None else inverses
    x = np.asarray(features, dtype=np.float64)
    out = np.full((x.shape[0], len(statistics.names)), np.inf)
    for j, inverse in enumerate(inverses):
        if inverse is None:
            continue
        delta = x - statistics.mean_x[j]
        h = 1.0 / float(statistics.weight[j]) + np.einsum("nd,de,ne->n", delta, inverse, delta)
        out[:, j] = np.sqrt(np.maximum(h, 0.0))
    return out


def state_spread(state: Any, features: NDArray[np.float64]) -> NDArray[np.float64]:
    """`prediction_spread` of a `RoutedState`, each inverse computed once per design block.

    Args:
        state: a quality-mode `RoutedState` on row features.
        features: array of shape (n, d), from ``state.featurize``.

    Raises:
        ValueError: a domain-mode or token router (no per-expert linear model of a row).
    """
    if state.expert_map is not None or state.uses_tokens:
        msg = (
            "exploration needs a quality-mode router that scores feature rows (a featurizer "
            "such as 'sentence' or 'hashing', or pooled tokens)"
        )
        raise ValueError(msg)
    alpha = float(state.settings.penalty)
    _check(state.statistics, alpha)
    inverses = _inverses(state.statistics, alpha)
    return prediction_spread(state.statistics, alpha, features, inverses)
