"""Token scores: the tokens of a batch of prompts, and every vocabulary token's scores, so that
routing a prompt is a gather and a reduction (the paper's vote or the average)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from ir3de_core.decide.aggregation import token_entropy, vote, vote_counts
from ir3de_core.ridge.solver import RidgeSolution

__all__ = ["TokenBatch", "TokenScorer"]


@dataclass(frozen=True)
class TokenBatch:
    """The tokens of a batch of prompts, flattened.

    Attributes:
        ids: array of shape (T,), token ids of all prompts concatenated.
        prompt: array of shape (T,), the prompt index of each token.
        starts: array of shape (n,), where each prompt's tokens start in `ids`.
        lengths: array of shape (n,), tokens per prompt.
    """

    ids: NDArray[np.int64]
    prompt: NDArray[np.int64]
    starts: NDArray[np.int64]
    lengths: NDArray[np.int64]

    @classmethod
    def from_ids(cls, per_prompt: Sequence[NDArray[np.int64]]) -> TokenBatch:
        """Flatten a list of per-prompt id arrays."""
        lengths = np.fromiter((a.size for a in per_prompt), dtype=np.int64, count=len(per_prompt))
        starts = np.zeros(len(per_prompt), dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        ids = np.concatenate(per_prompt) if len(per_prompt) > 1 else per_prompt[0]
        prompt = np.repeat(np.arange(len(per_prompt), dtype=np.int64), lengths)
        return cls(ids=ids, prompt=prompt, starts=starts, lengths=lengths)


class TokenScorer:
    """Scores of every vocabulary token, precomputed so routing is a gather and a reduction.

    Args:
        table: array of shape (vocab, d), the embedding table.
        solution: the ridge solution with coef (d, k) and intercept (k,).
    """

    def __init__(self, table: NDArray[np.float32], solution: RidgeSolution) -> None:
        # float32 like the table: a (vocab, d) @ (d, k) product in milliseconds, no float64 copy
        coef = solution.coef.astype(np.float32)
        self.scores: NDArray[np.float32] = table @ coef + solution.intercept.astype(np.float32)
        self.winner: NDArray[np.int64] = self.scores.argmax(axis=1)

    @cached_property
    def entropy(self) -> NDArray[np.float64]:
        """Entropy of each token's scores (for votes of the lowest-entropy tokens): (vocab,)."""
        return token_entropy(self.scores)

    def average(self, batch: TokenBatch) -> NDArray[np.float64]:
        """Mean token score of each prompt: array of shape (n, k)."""
        sums = np.add.reduceat(self.scores[batch.ids].astype(np.float64), batch.starts, axis=0)
        return np.asarray(sums / batch.lengths[:, None])

    def vote(
        self, batch: TokenBatch, top_k: int | None
    ) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
        """Majority vote of the tokens (or of the `top_k` lowest-entropy tokens of each prompt).

        Returns:
            (winning group per prompt, shape (n,); vote share per group, shape (n, k)).
        """
        n, k = batch.lengths.size, self.scores.shape[1]
        ids, prompt = batch.ids, batch.prompt
        if top_k is not None:
            keep = np.concatenate(
                [
                    start + _lowest(self.entropy[ids[start : start + length]], top_k)
                    for start, length in zip(batch.starts, batch.lengths, strict=True)
                ]
            )
            ids, prompt = ids[keep], prompt[keep]
        counts = vote_counts(self.winner[ids], prompt, n, k)
        winners = vote(counts, self.average(batch))
        return winners, counts / counts.sum(axis=1, keepdims=True)


def _lowest(values: NDArray[np.float64], k: int) -> NDArray[np.intp]:
    """Indices of the k smallest values (all of them when there are fewer than k)."""
    if values.size <= k:
        return np.arange(values.size)
    return np.argpartition(values, k - 1)[:k]
