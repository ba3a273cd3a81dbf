"""Replay under bandit feedback: seeded runs repeat, only the chosen score is revealed."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from ir3de_core.learn.replay import choose_strength, replay
from tests.learn.conftest import fit_router, make_prompts

PROMPTS, SCORES = make_prompts(120, seed=5)


def exploring(seed: int):
    router = fit_router()
    router.set_policy(
        router.policy_.replace(explore="thompson", explore_share=0.5, explore_seed=seed)
    )
    return router


def test_a_seeded_replay_repeats_exactly() -> None:
    first = replay(exploring(1), PROMPTS, SCORES)
    second = replay(exploring(1), PROMPTS, SCORES)
    np.testing.assert_array_equal(first.chosen, second.chosen)
    np.testing.assert_array_equal(first.propensities, second.propensities)
    assert first.regret == second.regret
    other = replay(exploring(2), PROMPTS, SCORES)
    assert not np.array_equal(first.chosen, other.chosen)


def test_only_the_chosen_experts_score_is_folded_in() -> None:
    router = exploring(0)
    before = router.statistics_.n_rows.copy()
    result = replay(router, PROMPTS, SCORES)
    counts = np.bincount(result.chosen, minlength=3)
    np.testing.assert_array_equal(router.statistics_.n_rows - before, counts)
    rows = np.arange(len(PROMPTS))
    np.testing.assert_allclose(result.rewards, SCORES[rows, result.chosen])
    assert result.regret == pytest.approx(float((SCORES.max(axis=1) - result.rewards).sum()))
    assert ((result.propensities > 0) & (result.propensities <= 1)).all()


def test_choose_strength_picks_the_best_replay_and_leaves_the_router_alone() -> None:
    router = fit_router()
    before = router.statistics_.n_rows.copy()
    untouched = copy.copy(router)
    best, earned = choose_strength(
        router, PROMPTS, SCORES, explore="linucb", strengths=(0.0, 0.5, 5.0)
    )
    assert set(earned) == {0.0, 0.5, 5.0}
    assert earned[best] == max(earned.values())
    np.testing.assert_array_equal(router.statistics_.n_rows, before)
    assert router.policy_ == untouched.policy_
    manual = copy.copy(router)
    manual.set_policy(
        router.policy_.replace(
            explore="linucb", explore_strength=best, explore_share=1.0, explore_seed=0
        )
    )
    assert replay(manual, PROMPTS, SCORES).mean_reward == pytest.approx(earned[best])


def test_replay_refuses_scores_of_the_wrong_shape() -> None:
    with pytest.raises(ValueError, match="shape"):
        replay(fit_router(), PROMPTS, SCORES[:, :2])
