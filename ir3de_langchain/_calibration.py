"""Honest probabilities from router scores: a softmax temperature fitted on held-out labels.

A router turns its scores into probabilities with ``softmax(scores / T)``. Any T keeps the
ranking; only a T fitted to data makes "0.8" mean "right 8 times in 10". `fit_temperature`
finds the T that maximises the likelihood of held-out labels (temperature scaling, Guo et al.
2017); `cross_validated_scores` gives held-out scores from the training texts themselves; and
`expected_calibration_error` measures the gap between confidence and accuracy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import brentq, minimize_scalar
from scipy.special import log_softmax, softmax

from ir3de_core.router import IR3DERouter

__all__ = [
    "calibrated_probabilities",
    "cross_validated_scores",
    "expected_calibration_error",
    "fit_temperature",
]

_LOG_T = (-7.0, 7.0)  # T in [e^-7, e^7]: from nearly argmax to nearly uniform


def calibrated_probabilities(
    scores: NDArray[np.floating], temperature: float
) -> NDArray[np.float64]:
    """``softmax(scores / temperature)`` row by row: array of the shape of `scores`, (n, k)."""
    return np.asarray(softmax(np.asarray(scores, dtype=np.float64) / temperature, axis=-1))


def fit_temperature(
    scores: NDArray[np.floating], labels: Sequence[int] | NDArray[np.intp]
) -> float:
    """The temperature whose softmax gives the held-out labels the highest likelihood.

    With few rows that all come out right the likelihood keeps growing as T → 0; so T is raised,
    when needed, until the mean confidence on the rows is at most Laplace's rule of succession,
    (n + 1) / (n + 2): eight right answers out of eight make 0.9, not certainty. With more rows,
    or some wrong, this bound does not bind.

    Args:
        scores: array of shape (n, k), held-out scores (not those of the prompts fitted on).
        labels: n column indices, the right expert of each row.

    Raises:
        ValueError: when there are no rows, or shapes disagree.
    """
    table = np.asarray(scores, dtype=np.float64)
    index = np.asarray(labels, dtype=np.intp)
    if table.ndim != 2 or table.shape[0] == 0 or index.shape != (table.shape[0],):
        msg = f"need scores of shape (n, k) with n ≥ 1 and n labels, got {table.shape} and {index.shape}"
        raise ValueError(msg)
    rows = np.arange(table.shape[0])

    def loss(log_t: float) -> float:
        return float(-log_softmax(table / np.exp(log_t), axis=1)[rows, index].mean())

    def excess_confidence(log_t: float) -> float:
        confidence = calibrated_probabilities(table, float(np.exp(log_t))).max(axis=1).mean()
        return float(confidence - (len(rows) + 1) / (len(rows) + 2))

    best = minimize_scalar(loss, bounds=_LOG_T, method="bounded", options={"xatol": 1e-3})
    log_t = float(best.x)
    if table.shape[1] > 1 and excess_confidence(log_t) > 0:
        log_t = float(brentq(excess_confidence, log_t, _LOG_T[1], xtol=1e-3))
    return float(np.exp(log_t))


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


def cross_validated_scores(
    texts: Sequence[str],
    labels: Sequence[str],
    fit: Callable[[list[str], list[str]], IR3DERouter],
    *,
    experts: Sequence[str],
    folds: int = 5,
    seed: int = 0,
) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """Held-out scores of labelled texts: each fold scored by a router fitted without it.

    Args:
        texts: the n texts that may be held out.
        labels: their n experts.
        fit: fits a router on the other texts (it may add texts of its own, such as names).
        experts: the k experts, in the order of the score columns.
        folds: number of folds (at most n).
        seed: shuffles texts into folds.

    Returns:
        (scores of shape (n, k), the column of each text's expert, shape (n,)).
    """
    n = len(texts)
    order = np.random.default_rng(seed).permutation(n)
    fold_of = np.empty(n, dtype=np.intp)
    fold_of[order] = np.arange(n) % max(1, min(folds, n))
    scores = np.zeros((n, len(experts)))
    for f in np.unique(fold_of):
        held = np.flatnonzero(fold_of == f)
        kept = np.flatnonzero(fold_of != f)
        router = fit([texts[int(i)] for i in kept], [labels[int(i)] for i in kept])
        columns = [list(router.experts_).index(e) for e in experts]
        scores[held] = router.decision_function([texts[int(i)] for i in held])[:, columns]
    return scores, np.array([list(experts).index(label) for label in labels], dtype=np.intp)
