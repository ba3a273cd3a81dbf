"""Exploration as a policy rule: propensities, the closed-form bonus, the share cap, seeds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ir3de_core import IR3DERouter, RoutingPolicy, SufficientStatistics
from ir3de_core.decide.explore import exploration_probabilities, sample_experts
from ir3de_core.decide.uncertainty import prediction_spread
from tests.learn.conftest import EXPERTS, fit_router, make_prompts

PROMPTS, _ = make_prompts(300, seed=7)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6), st.integers(3, 40), st.floats(0.05, 10.0))
def test_the_spread_equals_the_closed_form_with_an_unpenalised_intercept(seed, d, n, alpha):
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(n, d)), rng.normal(size=(n, 2))
    Y[rng.random(Y.shape) < 0.3] = np.nan
    Y[0] = 1.0  # each expert has at least one row
    stats = SufficientStatistics.from_rows(X, Y, ("a", "b"), design="per_group")
    queries = rng.normal(size=(5, d))
    spread = prediction_spread(stats, alpha, queries)
    for j in range(2):
        rows = X[~np.isnan(Y[:, j])]
        design = np.column_stack([np.ones(len(rows)), rows])
        system = design.T @ design + np.diag([0.0] + [alpha] * d)  # intercept unpenalised
        z = np.column_stack([np.ones(5), queries])
        h = np.einsum("nd,de,ne->n", z, np.linalg.inv(system), z)
        np.testing.assert_allclose(spread[:, j], np.sqrt(h), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("method", ["linucb", "thompson"])
def test_propensities_sum_to_one_and_name_the_chosen_expert(router, method) -> None:
    policy = router.policy_.replace(explore=method, explore_share=0.5, explore_strength=2.0)
    for d in router.route(PROMPTS[:40], policy=policy):
        assert sum(d.propensities.values()) == pytest.approx(1.0)
        assert d.propensity == pytest.approx(d.propensities[d.expert])
        assert d.propensity > 0
        greedy = max(d.scores, key=d.scores.__getitem__)
        others = sum(p for e, p in d.propensities.items() if e != greedy)
        assert others <= 0.5 + 1e-12  # the share caps every prompt's deviation


def test_thompson_two_experts_is_the_normal_cdf_and_more_is_monte_carlo() -> None:
    rng = np.random.default_rng(0)
    value, spread = np.array([[0.5, 0.3, -np.inf]]), np.array([[0.1, 0.2, 0.1]])
    p = exploration_probabilities(
        value, spread, np.array([0]), np.array([True]),
        method="thompson", strength=1.0, share=1.0, rng=rng,
    )  # fmt: skip
    from scipy.stats import norm

    assert p[0, 0] == pytest.approx(norm.cdf(0.2 / np.hypot(0.1, 0.2)))
    assert p[0, 2] == 0.0  # never an unavailable expert
    three = exploration_probabilities(
        np.array([[0.5, 0.3, 0.4]]), spread, np.array([0]), np.array([True]),
        method="thompson", strength=1.0, share=1.0, rng=rng,
    )  # fmt: skip
    z = np.random.default_rng(1).standard_normal((200_000, 3)) * spread[0] + [0.5, 0.3, 0.4]
    truth = np.bincount(z.argmax(axis=1), minlength=3) / len(z)
    np.testing.assert_allclose(three[0], truth, atol=0.04)


def test_linucb_mixture_is_exact() -> None:
    value, spread = np.array([[0.5, 0.45]]), np.array([[0.01, 0.2]])
    p = exploration_probabilities(
        value, spread, np.array([0]), np.array([True]),
        method="linucb", strength=1.0, share=0.3, rng=np.random.default_rng(0),
    )  # fmt: skip
    np.testing.assert_allclose(p, [[0.7, 0.3]])
    deterministic = exploration_probabilities(
        value, spread, np.array([0]), np.array([True]),
        method="linucb", strength=1.0, share=1.0, rng=np.random.default_rng(0),
    )  # fmt: skip
    np.testing.assert_allclose(deterministic, [[0.0, 1.0]])


def test_linucb_at_strength_zero_is_greedy_even_beside_an_expert_without_data() -> None:
    """An expert without data has an infinite spread; a bonus of 0 · ∞ must not be NaN (which
    argmax would pick): at strength 0 LinUCB's rule is the greedy expert."""
    value, spread = np.array([[0.5, 0.45]]), np.array([[0.01, np.inf]])
    p = exploration_probabilities(
        value, spread, np.array([0]), np.array([True]),
        method="linucb", strength=0.0, share=1.0, rng=np.random.default_rng(0),
    )  # fmt: skip
    np.testing.assert_allclose(p, [[1.0, 0.0]])


def test_linucb_with_a_floor_is_the_stated_mixture() -> None:
    value, spread = np.array([[0.5, 0.45, -np.inf]]), np.array([[0.01, 0.2, 0.1]])
    p = exploration_probabilities(
        value, spread, np.array([0]), np.array([True]),
        method="linucb", strength=1.0, share=0.3, rng=np.random.default_rng(0), floor=0.2,
    )  # fmt: skip
    # 0.7 · greedy + 0.3 · (0.8 · one-hot(UCB = 1) + 0.2 · uniform over the 2 available)
    np.testing.assert_allclose(p, [[0.73, 0.27, 0.0]])


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**32 - 1), st.integers(1, 6), st.sampled_from(["linucb", "thompson"]),
    st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.floats(0.01, 3.0),
)  # fmt: skip
def test_the_floor_bounds_every_available_propensity_and_keeps_the_share_cap(
    seed: int, k: int, method: str, share: float, floor: float, strength: float
) -> None:
    rng = np.random.default_rng(seed)
    n = 12
    value = rng.normal(size=(n, k))
    value[rng.random((n, k)) < 0.3] = -np.inf
    value[np.arange(n), rng.integers(0, k, n)] = rng.normal(size=n)  # ≥ 1 available per row
    available = np.isfinite(value)
    no_data = available & (rng.random((n, k)) < 0.2)  # experts without data: infinite spread
    spread = np.where(no_data, np.inf, rng.random((n, k)))
    greedy = np.where(available, value, -np.inf).argmax(axis=1)
    explorable = rng.random(n) < 0.7
    p = exploration_probabilities(
        value, spread, greedy, explorable, method=method, strength=strength,  # type: ignore[arg-type]
        share=share, rng=rng, floor=floor,
    )  # fmt: skip
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    assert (p[~available] == 0).all()
    least = share * floor / available.sum(axis=1)
    for i in np.flatnonzero(explorable):
        assert (p[i, available[i]] >= least[i] - 1e-12).all()
    assert (p[~explorable, greedy[~explorable]] == 1.0).all()
    assert (1.0 - p[np.arange(n), greedy] <= share + 1e-12).all()  # deviation ≤ share


@pytest.mark.parametrize("method", ["linucb", "thompson"])
def test_with_a_floor_every_available_expert_is_logged_with_positive_propensity(
    router, method
) -> None:
    policy = router.policy_.replace(
        explore=method, explore_share=0.2, explore_strength=0.01, explore_floor=0.3
    )
    for d in router.route(PROMPTS[:40], policy=policy):
        assert sum(d.propensities.values()) == pytest.approx(1.0)
        assert min(d.propensities.values()) >= 0.2 * 0.3 / 3 - 1e-12
    only = router.route(PROMPTS[:40], policy=policy, available=["math", "code"])
    assert all(d.propensities["chat"] == 0.0 for d in only)
    assert all(min(d.propensities["math"], d.propensities["code"]) >= 0.03 - 1e-12 for d in only)
    forced = router.route(PROMPTS[:5], policy=policy, forced="chat")
    assert all(d.propensity == 1.0 and d.rule == "forced" for d in forced)
    rule_only = router.route(PROMPTS[:40], policy=policy.replace(explore_floor=0.0))
    assert min(min(d.propensities.values()) for d in rule_only) == 0.0  # the gap it closes


def test_the_realised_share_of_deviations_stays_under_the_cap(router) -> None:
    policy = router.policy_.replace(explore="linucb", explore_share=0.1, explore_strength=50.0)
    decisions = router.route(PROMPTS, policy=policy)
    deviations = sum(d.rule == "explore" for d in decisions)
    assert 0 < deviations <= 0.1 * len(PROMPTS) + 3 * np.sqrt(0.09 * len(PROMPTS))


def test_sampling_never_draws_a_zero_probability_expert() -> None:
    rng = np.random.default_rng(0)
    p = np.tile([0.0, 0.25, 0.0, 0.75, 0.0], (10_000, 1))
    index = sample_experts(p, rng)
    assert set(index.tolist()) == {1, 3}
    assert np.mean(index == 3) == pytest.approx(0.75, abs=0.02)


@pytest.mark.parametrize("method", ["linucb", "thompson"])
def test_forced_sticky_and_unavailable_never_explore(router, method) -> None:
    policy = router.policy_.replace(explore=method, explore_share=1.0, explore_strength=100.0)
    forced = router.route(PROMPTS[:30], policy=policy, forced="chat")
    assert {d.expert for d in forced} == {"chat"}
    assert all(d.propensity == 1.0 and d.rule == "forced" for d in forced)
    only = router.route(PROMPTS[:60], policy=policy, available=["math", "code"])
    assert {d.expert for d in only} <= {"math", "code"}
    assert all(d.propensities["chat"] == 0.0 for d in only)
    first = router.route(PROMPTS[:1], policy=policy)[0]
    other = next(e for e in EXPERTS if e != first.expert)
    kept = policy.keep(first, other, in_loop=True, available=EXPERTS, switch_confidence=None)
    assert kept.rule == "sticky" and kept.expert == other and kept.propensity == 1.0


def test_decisions_are_reproducible_given_a_seed() -> None:
    policy = {"explore": "thompson", "explore_share": 0.5, "explore_seed": 3}
    runs = [[d.expert for d in fit_router(**policy).route(PROMPTS[:80])] for _ in range(2)]
    assert runs[0] == runs[1]
    other = fit_router(**{**policy, "explore_seed": 4}).route(PROMPTS[:80])
    assert [d.expert for d in other] != runs[0]


def test_greedy_policies_report_propensity_one(router) -> None:
    for d in router.route(PROMPTS[:10]):
        assert d.propensity == 1.0 and d.propensities[d.expert] == 1.0


def test_the_exploring_policy_round_trips_through_save_and_load(router, tmp_path) -> None:
    policy = router.policy_.replace(
        explore="thompson", explore_strength=0.3, explore_share=0.15, explore_floor=0.25
    )
    assert RoutingPolicy.from_dict(policy.to_dict()) == policy
    router.set_policy(policy)
    try:
        loaded = IR3DERouter.load(router.save(tmp_path / "model"))
    finally:
        router.set_policy(policy.replace(explore=None))
    assert loaded.policy_ == policy
    assert loaded.policy_.explore == "thompson" and loaded.policy_.explore_floor == 0.25
    saved_before_the_floor = {k: v for k, v in policy.to_dict().items() if k != "explore_floor"}
    assert RoutingPolicy.from_dict(saved_before_the_floor).explore_floor == 0.1  # the default


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"explore": "ucb"}, "explore="),
        ({"explore_share": 1.5}, "explore_share"),
        ({"explore_strength": -1.0}, "explore_strength"),
        ({"explore_floor": 1.5}, r"explore_floor must be a number in \[0, 1\].*e\.g\. 0\.1"),
        ({"explore_floor": -0.1}, r"explore_floor must be a number in \[0, 1\]"),
        ({"explore_floor": float("nan")}, r"explore_floor must be a number in \[0, 1\]"),
        ({"explore_floor": "0.1"}, r"explore_floor must be a number in \[0, 1\]"),
    ],
)
def test_bad_exploration_settings_are_refused(changes, message) -> None:
    with pytest.raises(ValueError, match=message):
        RoutingPolicy(**changes)  # type: ignore[arg-type]


def test_a_token_router_refuses_to_explore() -> None:
    prompts, scores = make_prompts(40, seed=1)
    router = IR3DERouter("tokens", target="quality", aggregation="average", alpha=1.0).fit(
        prompts, [dict(zip(EXPERTS, row, strict=True)) for row in scores]
    )
    with pytest.raises(ValueError, match="feature rows"):
        router.route(prompts[:2], policy=RoutingPolicy(explore="linucb"))


def test_the_documented_exploring_policy_loads() -> None:
    import re
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")  # the standard library's from Python 3.11
    text = (Path(__file__).parents[2] / "docs" / "learning.md").read_text(encoding="utf-8")
    block = re.search(r"```toml\n(\[policy\].*?)```", text, re.S)
    assert block is not None, "docs/learning.md shows an exploring [policy]"
    policy = RoutingPolicy.from_dict(tomllib.loads(block.group(1))["policy"])
    assert (policy.explore, policy.explore_share, policy.explore_floor) == ("thompson", 0.2, 0.1)
