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

from ir3de_core.ridge.moments import RowMoments
from ir3de_core.ridge.scatter import Eigen
from ir3de_core.ridge.statistics import SufficientStatistics

__all__ = [
    "MAX_EXPLORE_FEATURES",
    "block_eigen",
    "block_inverse",
    "block_leverage",
    "keep_block_inverse",
    "prediction_spread",
    "state_spread",
]

MAX_EXPLORE_FEATURES = 4096
"""Widest feature rows exploration accepts: a dense design block is decomposed as d × d."""

_CACHE: weakref.WeakKeyDictionary[RowMoments, Eigen] = weakref.WeakKeyDictionary()
_INVERSES: weakref.WeakKeyDictionary[RowMoments, tuple[float, NDArray[np.float64]]] = (
    weakref.WeakKeyDictionary()
)
_LOCK = threading.Lock()


def keep_block_inverse(block: RowMoments, alpha: float, inverse: NDArray[np.float64]) -> None:
    """Remember ``(S + αI)⁻¹`` (d, d) of a block a feedback fold made (the rank-one updater
    has it; pass a copy no one changes), so that its leverage is one O(d²) product instead of
    a decomposition of the new block (~30 ms at d = 1,024 while it has fewer rows than
    features, a d × d ``eigh`` after) on the thread that routes."""
    with _LOCK:
        _INVERSES[block] = (float(alpha), inverse)


def block_inverse(block: RowMoments, alpha: float) -> NDArray[np.float64] | None:
    """The inverse `keep_block_inverse` kept for the block and α, or None."""
    with _LOCK:
        kept = _INVERSES.get(block)
    return kept[1] if kept is not None and kept[0] == float(alpha) else None


def block_leverage(
    block: RowMoments, centred: NDArray[np.float64], alpha: float
) -> NDArray[np.float64]:
    """``(x − x̄)ᵀ(S + αI)⁻¹(x − x̄)`` of centred rows (n, d) in the block: shape (n,), from a
    kept inverse, else from the block's (cached) decomposition."""
    inverse = block_inverse(block, alpha)
    if inverse is not None:
        return np.asarray(np.einsum("ij,ij->i", centred @ inverse, centred), dtype=np.float64)
    return block_eigen(block).leverage(centred, alpha)


def block_eigen(block: RowMoments) -> Eigen:
    """The eigendecomposition of a design block's scatter, computed once per block (blocks are
    immutable and shared by the statistics an update leaves unchanged). Thin while the block
    has fewer rows than features (O(r²d) from its factor), so a gateway that folds feedback and
    explores pays a small decomposition per fold, not a d × d inverse; any α reuses it."""
    with _LOCK:
        known = _CACHE.get(block)
    if known is not None:
        return known
    eigen = block.scatter.eigen()
    with _LOCK:
        _CACHE[block] = eigen
    return eigen


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
    statistics: SufficientStatistics, alpha: float, features: NDArray[np.float64]
) -> NDArray[np.float64]:
    """√h_j(x) of every prompt and expert (see the module docstring).

    Args:
        statistics: quality-mode (``per_group``) statistics of row features.
        alpha: the ridge penalty α > 0 the router was solved with.
        features: array of shape (n, d).

    Returns:
        array of shape (n, k); ``inf`` for an expert without any data.
    """
    _check(statistics, alpha)
    x = np.asarray(features, dtype=np.float64)
    out = np.full((x.shape[0], len(statistics.names)), np.inf)
    done: dict[int, NDArray[np.float64]] = {}  # experts sharing a block share its spread
    for j, b in enumerate(statistics.block.tolist()):
        if b < 0:
            continue
        if b not in done:
            block = statistics.blocks[b]
            leverage = block_leverage(block, x - block.mean, alpha)
            done[b] = np.sqrt(np.maximum(1.0 / float(block.weight) + leverage, 0.0))
        out[:, j] = done[b]
    return out


def state_spread(state: Any, features: NDArray[np.float64]) -> NDArray[np.float64]:
    """`prediction_spread` of a `RoutedState` (each block decomposed once, then cached).

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
    return prediction_spread(state.statistics, float(state.settings.penalty), features)
