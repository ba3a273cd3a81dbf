"""Held-out scores of labelled texts, to fit a temperature on (`ir3de_core.decide.confidence`).

`cross_validated_scores` gives held-out scores from the training texts themselves, with a fit
that may add texts of its own (a router built from descriptions keeps them in every fold).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from ir3de_core.router import IR3DERouter

__all__ = ["cross_validated_scores"]


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
