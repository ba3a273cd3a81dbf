"""The router decides through its policy, fits through one path, and routes safely while it learns."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from ir3de_core import FitPart, IR3DERouter, RoutingPolicy
from ir3de_core.featurizers import HashingFeaturizer

HASH = {"kind": "hashing", "n_features": 128}
EXPERTS = {"math": "M", "code": "C", "multilingual": "L", "writing": "W"}


@pytest.fixture(scope="module")
def quality_router(prompts, quality_scores) -> IR3DERouter:
    return IR3DERouter(HASH, target="quality", alpha=1.0).fit(prompts, quality_scores)


def test_route_predict_and_policy_agree(quality_router, prompts) -> None:
    policy = RoutingPolicy(
        prices={"m": 0.1, "c": 0.1, "l": 0.1, "w": 5.0}, price_unit="query", lam=0.5
    )
    router = copy.copy(quality_router).set_policy(policy)
    decisions = router.route(prompts[:40])
    assert [d.expert for d in decisions] == router.predict(prompts[:40]).tolist()
    assert {d.rule for d in decisions} == {"cost"}
    assert all(d.expert != "w" for d in decisions)  # five times dearer for at most 0.7 more
    expected = policy.costs([prompts[0]], router.experts_)[0]
    assert decisions[0].costs == pytest.approx(dict(zip(router.experts_, expected, strict=True)))
    assert decisions[0].cost == decisions[0].costs[decisions[0].expert]
    assert decisions[0].lam == 0.5
    # a policy given to route overrides the router's own, without changing it
    best = router.route(prompts[:5], policy=RoutingPolicy())
    assert {d.rule for d in best} == {"best"}
    assert router.policy_ == policy


def test_policy_is_saved_with_the_router(quality_router, prompts, tmp_path) -> None:
    policy = RoutingPolicy(threshold=0.9, default="w")
    router = copy.copy(quality_router).set_policy(policy)
    loaded = IR3DERouter.load(router.save(tmp_path / "r"))
    assert loaded.policy_ == policy
    assert loaded.policy == policy.to_dict()
    assert [d.rule for d in loaded.route(prompts[:20])] == [
        d.rule for d in router.route(prompts[:20])
    ]
    assert loaded.prior_ == router.prior_


def test_prior_is_the_best_single_expert(prompts, domains, quality_scores) -> None:
    router = IR3DERouter(HASH, target="quality").fit(prompts, quality_scores)
    means = {e: np.mean([s[e] for s in quality_scores]) for e in quality_scores[0]}
    assert router.prior_ == max(means, key=means.__getitem__)
    by_domain = IR3DERouter(HASH, expert_map=EXPERTS).fit(prompts, domains)
    assert by_domain.prior_ in EXPERTS.values()


def test_unsure_prompts_go_to_the_default_and_say_so(prompts, domains) -> None:
    router = IR3DERouter(HASH, expert_map=EXPERTS).fit(prompts, domains)
    router.set_policy(RoutingPolicy(threshold=0.99, default="W"))
    decisions = router.route(["hmm", prompts[0]])
    assert decisions[0].expert == "W" and decisions[0].rule == "default"
    assert decisions[0].threshold == 0.99


def test_forced_and_available(quality_router, prompts) -> None:
    forced = quality_router.route(prompts[:3], forced="l")
    assert {(d.expert, d.rule) for d in forced} == {("l", "forced")}
    limited = quality_router.route(prompts[:30], available={"m", "c"})
    assert {d.expert for d in limited} <= {"m", "c"}


def test_fit_is_fit_spec_part_solve(prompts, domains) -> None:
    router = IR3DERouter(HASH)
    spec = router.fit_spec(prompts)
    assert not hasattr(router, "state_")  # building a spec changes nothing
    part = spec.part(prompts[:60], domains[:60]) + spec.part(prompts[60:], domains[60:])
    assert isinstance(part, FitPart) and part.n_records == len(prompts)
    two_parts = IR3DERouter(HASH).fit_part(part, spec)
    one_fit = IR3DERouter(HASH).fit(prompts, domains)
    np.testing.assert_allclose(two_parts.coef_, one_fit.coef_, atol=1e-10)


def test_a_featurizer_instance_given_by_the_user_is_not_changed(prompts, domains) -> None:
    mine = HashingFeaturizer(64)
    router = IR3DERouter(mine).fit(prompts, domains)
    assert not mine.is_fitted  # the router fitted its own copy
    assert router.featurizer_.is_fitted
    assert router.featurizer is mine


def test_fitted_attributes_are_read_only_views(quality_router) -> None:
    with pytest.raises(AttributeError):
        quality_router.coef_ = np.zeros(1)  # type: ignore[misc]
    with pytest.raises(AttributeError, match="domain mode"):
        _ = quality_router.expert_map_


def test_copy_shares_no_online_sums(prompts, quality_scores) -> None:
    router = IR3DERouter(HASH, target="quality").fit(prompts, quality_scores)
    router.partial_fit([prompts[0]], [{"m": 0.1}])  # starts the rank-one updater
    twin = copy.copy(router)
    before = twin.statistics_.xtx.copy()
    router.partial_fit([prompts[1]], [{"m": 0.2}])
    np.testing.assert_array_equal(twin.statistics_.xtx, before)


def test_a_vote_goes_to_the_expert_of_the_winning_domain(prompts, domains) -> None:
    """Two domains served by one expert: the vote still decides by domain (ties by the average
    token score), as the router did before decisions went through the policy."""
    shared = {"math": "M", "code": "M", "multilingual": "L", "writing": "W"}
    router = IR3DERouter("tokens", aggregation="vote", expert_map=shared).fit(prompts, domains)
    state = router.state_
    winners, _ = state.group_scores(prompts)
    want = [state.experts[j] for j in state.group_expert[winners]]
    assert router.predict(prompts).tolist() == want
    assert [d.expert for d in router.route(prompts)] == want
