"""Majority vote and entropy selection on hand-made token scores."""

from __future__ import annotations

import numpy as np

from ir3de_core.decide.aggregation import token_entropy, vote, vote_counts
from ir3de_core.decide.tokens import TokenBatch, TokenScorer
from ir3de_core.ridge.solver import RidgeSolution


def test_vote_counts_per_prompt() -> None:
    winners = np.array([0, 1, 1, 2, 2, 2])
    prompt = np.array([0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(vote_counts(winners, prompt, 2, 3), [[1, 2, 0], [0, 0, 3]])


def test_vote_breaks_ties_by_average_score() -> None:
    counts = np.array([[2, 2, 0], [1, 1, 1]])
    tie_break = np.array([[0.1, 0.5, 0.9], [0.3, 0.2, 0.1]])
    assert vote(counts, tie_break).tolist() == [1, 0]  # group 2 has no votes, so it cannot win


def test_entropy_is_low_for_confident_tokens() -> None:
    entropy = token_entropy(np.array([[10.0, 0.0, 0.0], [1.0, 1.0, 1.0]]))
    assert entropy[0] < 0.01
    np.testing.assert_allclose(entropy[1], np.log(3))


def _scorer() -> TokenScorer:
    """Vocabulary of 4 tokens over 2 groups: tokens 0, 1 are confident, 2, 3 are not."""
    table = np.array([[1.0, 0.0], [0.0, 1.0], [0.1, 0.0], [0.0, 0.1]], dtype=np.float32)
    solution = RidgeSolution(coef=np.eye(2) * 10, intercept=np.zeros(2))
    return TokenScorer(table, solution)


def test_vote_over_all_tokens_and_over_the_lowest_entropy_tokens() -> None:
    scorer = _scorer()
    # one confident vote for group 0 against three weak votes for group 1
    batch = TokenBatch.from_ids([np.array([0, 3, 3, 3])])
    winners, shares = scorer.vote(batch, top_k=None)
    assert winners.tolist() == [1] and shares.tolist() == [[0.25, 0.75]]
    winners, shares = scorer.vote(batch, top_k=1)
    assert winners.tolist() == [0] and shares.tolist() == [[1.0, 0.0]]


def test_average_follows_the_magnitudes() -> None:
    scorer = _scorer()
    batch = TokenBatch.from_ids([np.array([0, 3, 3, 3]), np.array([1])])
    np.testing.assert_allclose(scorer.average(batch), [[2.5, 0.75], [0.0, 10.0]])
    assert batch.starts.tolist() == [0, 4] and batch.lengths.tolist() == [4, 1]
