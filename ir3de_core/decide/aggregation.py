"""Turning per-token scores into one decision: majority vote (optionally over the lowest-entropy
tokens) or the average score. Pure functions over arrays, vectorised over a batch of prompts."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.special import softmax

__all__ = ["token_entropy", "vote", "vote_counts"]


def token_entropy(token_scores: NDArray[np.floating]) -> NDArray[np.float64]:
    """Entropy of the softmax over groups of each token's scores.

    Args:
        token_scores: array of shape (t, k).

    Returns:
        array of shape (t,); low entropy means the token clearly favours one group.
    """
    p = softmax(np.asarray(token_scores, dtype=np.float64), axis=1)
    return np.asarray(-(p * np.log(np.clip(p, 1e-300, None))).sum(axis=1))


def vote_counts(
    token_winner: NDArray[np.integer],
    prompt_of_token: NDArray[np.integer],
    n_prompts: int,
    n_groups: int,
) -> NDArray[np.int64]:
    """How many tokens of each prompt voted for each group.

    Args:
        token_winner: array of shape (T,), the argmax group of each token.
        prompt_of_token: array of shape (T,), the prompt each token belongs to.
        n_prompts: number of prompts n.
        n_groups: number of groups k.

    Returns:
        array of shape (n, k).
    """
    flat = np.asarray(prompt_of_token) * n_groups + np.asarray(token_winner)
    return np.bincount(flat, minlength=n_prompts * n_groups).reshape(n_prompts, n_groups)


def vote(counts: NDArray[np.integer], tie_break: NDArray[np.floating]) -> NDArray[np.intp]:
    """Majority vote per prompt; ties go to the group with the higher `tie_break` score.

    Args:
        counts: array of shape (n, k), votes per group.
        tie_break: array of shape (n, k), e.g. the average token score.

    Returns:
        array of shape (n,), the winning group of each prompt.
    """
    c = np.asarray(counts, dtype=np.float64)
    best = c == c.max(axis=1, keepdims=True)
    return np.asarray(np.where(best, tie_break, -np.inf).argmax(axis=1))
