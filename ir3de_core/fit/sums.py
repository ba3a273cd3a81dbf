"""Featurizing prompts into sufficient statistics: token rows (table lookups, no row ever
materialised) or one row per prompt."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from ir3de_core.decide.tokens import TokenBatch
from ir3de_core.featurizers import Featurizer
from ir3de_core.ridge.statistics import Design, SufficientStatistics

__all__ = ["row_statistics", "token_statistics"]


def token_statistics(
    featurizer: Featurizer,
    prompts: Sequence[str],
    targets: NDArray[np.float64],
    names: Sequence[str],
    *,
    design: Design,
    per_prompt_weight: bool,
    sample_weight: NDArray[np.float64] | None = None,
) -> SufficientStatistics:
    """Statistics over every token row of every prompt, without materialising the rows.

    Args:
        featurizer: a token featurizer (has ``table`` and ``token_ids``).
        prompts: n prompts.
        targets: array of shape (n, k), NaN where a prompt is not in a group.
        names: the k group names.
        design: ``shared`` or ``per_group``.
        per_prompt_weight: weight each token 1/t_i so every prompt counts once (otherwise every
            token counts once, as in the paper).
        sample_weight: array of shape (n,), each prompt's weight (default 1).
    """
    batch = TokenBatch.from_ids(featurizer.token_ids(prompts))  # type: ignore[attr-defined]
    table = featurizer.table  # type: ignore[attr-defined]
    vocab = table.shape[0]
    token_weight = (
        1.0 / batch.lengths[batch.prompt] if per_prompt_weight else np.ones(batch.ids.size)
    )
    if sample_weight is not None:
        token_weight = token_weight * sample_weight[batch.prompt]
    present = ~np.isnan(targets)
    filled = np.where(present, targets, 0.0)
    k = len(names)
    counts, target_counts = np.zeros((k, vocab)), np.zeros((k, vocab))
    for j in range(k):
        w = token_weight * present[batch.prompt, j]
        counts[j] = np.bincount(batch.ids, weights=w, minlength=vocab)
        target_counts[j] = np.bincount(
            batch.ids, weights=w * filled[batch.prompt, j], minlength=vocab
        )
    return SufficientStatistics.from_token_counts(
        table,
        counts,
        target_counts,
        names,
        design=design,
        n_rows=(present[batch.prompt]).sum(axis=0),
        n_prompts=present.sum(axis=0),
        target_range=(
            np.where(present, targets, np.inf).min(axis=0, initial=np.inf),
            np.where(present, targets, -np.inf).max(axis=0, initial=-np.inf),
        ),
    )


def row_statistics(
    features: NDArray[np.floating],
    targets: NDArray[np.float64],
    names: Sequence[str],
    *,
    design: Design,
    sample_weight: NDArray[np.float64] | None = None,
) -> SufficientStatistics:
    """Statistics with one row per prompt. features: (n, d); targets: (n, k) with NaN;
    sample_weight: (n,), default 1."""
    return SufficientStatistics.from_rows(
        features, targets, names, design=design, sample_weight=sample_weight
    )
