"""Honest probabilities from router scores: a softmax temperature fitted on held-out outcomes.

A router turns its scores into probabilities with ``softmax(scores / T)``. Any T keeps the
ranking; only a T fitted to data makes "0.8" mean "right 8 times in 10", so that thresholds on
confidence (a policy's safe default, a conversation's ``switch_confidence``, a selector's
``threshold``) mean the same whatever the featurizer. `fit_temperature` finds the T that
maximises the likelihood of held-out outcomes (temperature scaling, Guo et al. 2017);
`expected_calibration_error` measures the gap between confidence and accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import brentq, minimize_scalar

__all__ = [
    "DEFAULT_TEMPERATURE",
    "calibrated_probabilities",
    "expected_calibration_error",
    "fit_temperature",
    "row_softmax",
]

DEFAULT_TEMPERATURE = 0.1
"""T of a router whose temperature could not be fitted (too few prompts to cross-validate)."""

_BLOCK_NUMBERS = 1 << 16  # numbers per block of rows in `_log_sum_exp` (512 KB: in cache)
_LOG_T = (-7.0, 7.0)  # T in [e^-7, e^7] times the scores' spread: nearly argmax to nearly uniform


def calibrated_probabilities(
    scores: NDArray[np.floating], temperature: float
) -> NDArray[np.float64]:
    """``softmax(scores / temperature)`` row by row: array of the shape of `scores`, (n, k)."""
    return row_softmax(np.asarray(scores, dtype=np.float64) / temperature)


def row_softmax(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``scipy.special.softmax(x, axis=-1)``: the same operations on NumPy arrays, without its
    array-API dispatch (~0.1 ms a call, paid by every routed request), overwriting `x` (not
    four new arrays: at 10,000 experts each is 160 MB for 2,000 prompts): x (n, k) → (n, k)."""
    x -= x.max(axis=-1, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis=-1, keepdims=True)
    return x


def fit_temperature(
    scores: NDArray[np.floating],
    targets: Sequence[int] | NDArray[np.intp] | NDArray[np.floating],
) -> float:
    """The temperature whose softmax gives the held-out outcomes the highest likelihood.

    With few rows that all come out right the likelihood keeps growing as T → 0; so T is raised,
    when needed, until the mean confidence on the rows is at most Laplace's rule of succession,
    (n + 1) / (n + 2): eight right answers out of eight make 0.9, not certainty. With more rows,
    or some wrong, this bound does not bind.

    Args:
        scores: array of shape (n, k), held-out scores (not those of the prompts fitted on).
        targets: n column indices (the right expert of each row), or an array of shape (n, k)
            whose rows are distributions over the columns (e.g. shared by tied best experts).

    Raises:
        ValueError: when there are no rows, or shapes disagree.
    """
    table = np.asarray(scores, dtype=np.float64)
    if table.ndim != 2 or table.shape[0] == 0:
        msg = f"need scores of shape (n, k) with n ≥ 1, got {table.shape}"
        raise ValueError(msg)
    weights = _target_weights(np.asarray(targets), table.shape)
    spread = float(np.std(table)) or 1.0  # the bounds follow the scores' scale
    # log softmax(s/t)_j = (s_j − m)/t − log Σ exp((s − m)/t), m the row's max: the weighted
    # target term is computed once, and each t costs one chunked pass (no n × k temporaries)
    top = table.max(axis=1)
    centred = table - top[:, None]
    target_term = np.einsum("ij,ij->i", weights, centred)
    row_weight = weights.sum(axis=1)
    del weights

    def loss(log_t: float) -> float:
        t = spread * np.exp(log_t)
        return float(-(target_term / t - row_weight * _log_sum_exp(centred, t)).mean())

    def excess_confidence(log_t: float) -> float:
        t = spread * float(np.exp(log_t))
        confidence = np.exp(-_log_sum_exp(centred, t))  # the largest probability of each row
        n = table.shape[0]
        return float(confidence.mean() - (n + 1) / (n + 2))

    best = minimize_scalar(loss, bounds=_LOG_T, method="bounded", options={"xatol": 1e-3})
    log_t = float(best.x)
    if table.shape[1] > 1 and excess_confidence(log_t) > 0 and excess_confidence(_LOG_T[1]) < 0:
        log_t = float(brentq(excess_confidence, log_t, _LOG_T[1], xtol=1e-3))
    return spread * float(np.exp(log_t))


def _log_sum_exp(centred: NDArray[np.float64], t: float) -> NDArray[np.float64]:
    """``log Σ_j exp(centred_ij / t)`` of each row of `centred` (n, k), whose rows' largest
    entry is 0: array of shape (n,). Rows are taken a block at a time into one buffer."""
    n, k = centred.shape
    out = np.empty(n)
    step = max(1, _BLOCK_NUMBERS // max(k, 1))
    buffer = np.empty((min(step, n), k))
    for start in range(0, n, step):
        block = centred[start : start + step]
        part = buffer[: block.shape[0]]
        np.divide(block, t, out=part)
        np.exp(part, out=part)
        out[start : start + block.shape[0]] = np.log(part.sum(axis=1))
    return out


def _target_weights(targets: NDArray[np.generic], shape: tuple[int, ...]) -> NDArray[np.float64]:
    n = shape[0]
    if targets.ndim == 1:
        if targets.shape != (n,):
            msg = f"need {n} targets for scores of shape {shape}, got {targets.shape}"
            raise ValueError(msg)
        weights = np.zeros(shape)
        weights[np.arange(n), targets.astype(np.intp)] = 1.0
        return weights
    if targets.shape != shape:
        msg = f"target distributions must have the scores' shape {shape}, got {targets.shape}"
        raise ValueError(msg)
    weights = np.asarray(targets, dtype=np.float64)
    return weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-300)


def expected_calibration_error(
    confidence: Sequence[float] | NDArray[np.floating],
    correct: Sequence[bool] | NDArray[np.bool_],
    *,
    bins: int = 10,
) -> float:
    """Mean gap between confidence and accuracy over equal-width confidence bins (ECE).

    Args:
        confidence: n confidences in [0, 1], one per decision.
        correct: n flags, whether each decision was right.
        bins: number of equal-width bins of [0, 1].
    """
    conf = np.asarray(confidence, dtype=np.float64)
    hit = np.asarray(correct, dtype=np.float64)
    which = np.minimum((conf * bins).astype(np.intp), bins - 1)
    gaps = [abs(conf[which == b].mean() - hit[which == b].mean()) * np.mean(which == b)
            for b in range(bins) if np.any(which == b)]  # fmt: skip
    return float(np.sum(gaps))
