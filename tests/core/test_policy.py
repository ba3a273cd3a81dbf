"""`RoutingPolicy`: every rule, its record in the decision, its JSON form, and its properties."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ir3de_core.decide.decision import ExpertScores, RoutingDecision
from ir3de_core.decide.policy import RoutingPolicy

EXPERTS = ("cheap", "mid", "dear")
# 4 prompts: quality of each expert, probabilities of each expert, cost of each expert.
QUALITY = np.array([[0.9, 0.9, 1.0], [0.2, 0.8, 0.9], [0.1, 0.3, 0.9], [0.5, 0.6, 0.7]])
PROBS = np.array([[0.2, 0.2, 0.6], [0.1, 0.3, 0.6], [0.05, 0.05, 0.9], [0.3, 0.35, 0.35]])
COSTS = np.tile([1.0, 2.0, 10.0], (4, 1))


def table(costs: np.ndarray | None = COSTS, prior: str | None = "mid") -> ExpertScores:
    return ExpertScores(EXPERTS, QUALITY, PROBS, QUALITY, costs, None, prior)


def test_default_policy_is_argmax_and_says_so() -> None:
    decisions = RoutingPolicy().decide(table())
    assert [d.expert for d in decisions] == ["dear"] * 4
    assert {d.rule for d in decisions} == {"best"}
    assert decisions[0].confidence == pytest.approx(0.6)
    assert decisions[0].costs == {"cheap": 1.0, "mid": 2.0, "dear": 10.0}
    assert decisions[0].cost == 10.0
    assert decisions[0].predicted_quality == 1.0  # quality mode (no domain)
    assert decisions[0].lam is None


def test_lambda_weighs_cost_and_records_its_numbers() -> None:
    decisions = RoutingPolicy(lam=0.05).decide(table())
    assert [d.expert for d in decisions] == ["cheap", "mid", "dear", "mid"]
    assert {d.rule for d in decisions} == {"cost"}
    assert decisions[1].lam == 0.05
    # confidence is the chosen expert's probability, whatever rule chose it
    assert decisions[0].confidence == pytest.approx(0.2)


def test_lambda_without_costs_is_refused() -> None:
    with pytest.raises(ValueError, match="no costs"):
        RoutingPolicy(lam=1.0).decide(table(costs=None))


def test_threshold_sends_unsure_prompts_to_the_default() -> None:
    policy = RoutingPolicy(threshold=0.5, default="cheap")
    decisions = policy.decide(table())
    assert [d.expert for d in decisions] == ["dear", "dear", "dear", "cheap"]
    assert [d.rule for d in decisions] == ["best", "best", "best", "default"]
    assert decisions[3].threshold == 0.5
    assert decisions[3].confidence == pytest.approx(0.3)


def test_threshold_without_default_uses_the_prior_then_flags() -> None:
    decided = RoutingPolicy(threshold=0.5).decide(table(prior="mid"))
    assert (decided[3].expert, decided[3].rule) == ("mid", "default")
    unknown = RoutingPolicy(threshold=0.5).decide(table(prior=None))
    assert (unknown[3].expert, unknown[3].rule) == ("dear", "unsure")


def test_threshold_on_predicted_quality() -> None:
    policy = RoutingPolicy(threshold=0.8, threshold_on="quality", default="mid", lam=0.05)
    decisions = policy.decide(table())
    # λ picks cheap (0.9), mid (0.8), dear (0.9), mid (0.6 < 0.8 → default mid)
    assert [d.expert for d in decisions] == ["cheap", "mid", "dear", "mid"]
    assert [d.rule for d in decisions] == ["cost", "cost", "cost", "default"]


def test_available_restricts_and_renormalises() -> None:
    decisions = RoutingPolicy().decide(table(), available={"cheap", "mid"})
    assert [d.expert for d in decisions] == ["cheap", "mid", "mid", "mid"]
    assert decisions[1].confidence == pytest.approx(0.3 / 0.4)
    assert decisions[1].probabilities["dear"] == 0.0
    with pytest.raises(ValueError, match="none of"):
        RoutingPolicy().decide(table(), available={"nobody"})


def test_unavailable_default_keeps_the_choice_but_flags_it() -> None:
    policy = RoutingPolicy(threshold=0.99, default="dear")
    decisions = policy.decide(table(), available={"cheap", "mid"})
    assert {d.rule for d in decisions} == {"unsure"}


def test_forced_expert_keeps_every_score() -> None:
    decisions = RoutingPolicy(lam=1.0).decide(table(), forced="cheap")
    assert {d.expert for d in decisions} == {"cheap"}
    assert {d.rule for d in decisions} == {"forced"}
    assert decisions[0].scores == {"cheap": 0.9, "mid": 0.9, "dear": 1.0}
    with pytest.raises(ValueError, match="not one of"):
        RoutingPolicy().decide(table(), forced="nobody")
    with pytest.raises(ValueError, match="not available"):
        RoutingPolicy().decide(table(), forced="dear", available={"cheap"})


def test_decide_again_is_deciding_without_the_failed_expert() -> None:
    policy = RoutingPolicy(lam=0.05)
    first = policy.decide(table())[2]
    assert first.expert == "dear"
    again = policy.decide_again(first, available={"cheap", "mid"})
    assert again.expert == "mid"
    assert again.rule == "cost"
    assert again.scores == first.scores


def test_sticky_is_a_forced_rule_with_its_own_name() -> None:
    first = RoutingPolicy().decide(table())[0]
    kept = RoutingPolicy().force(first, "cheap", rule="sticky")
    assert (kept.expert, kept.rule) == ("cheap", "sticky")


def test_costs_from_prices_per_token_and_per_query() -> None:
    per_token = RoutingPolicy(prices={"a": 1.0, "b": 3.0})
    np.testing.assert_allclose(
        per_token.costs(["abcd" * 250, "abcd" * 500], ["a", "b"]), [[0.25, 0.75], [0.5, 1.5]]
    )
    per_query = RoutingPolicy(prices={"a": 0.5, "b": 2.0}, price_unit="query")
    np.testing.assert_allclose(per_query.costs(["x", "yy"], ["a", "b"]), [[0.5, 2.0], [0.5, 2.0]])
    with pytest.raises(ValueError, match="no price"):
        per_token.costs(["x"], ["a", "c"])
    assert RoutingPolicy().costs(["x"], ["a"]) is None


@pytest.mark.parametrize(
    ("settings", "match"),
    [({"lam": -1.0}, "lam"), ({"lam": math.nan}, "lam"), ({"threshold": 1.5}, "probability"),
     ({"threshold": math.nan}, "threshold"), ({"prices": {"a": -1.0}}, "price"),
     ({"prices": {}}, "prices"), ({"price_unit": "token"}, "price_unit"),
     ({"threshold_on": "margin"}, "threshold_on"), ({"default": ""}, "default"),
     ({"budget": math.inf}, "budget")],
)  # fmt: skip
def test_bad_settings_are_refused_with_their_name(settings: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RoutingPolicy(**settings)


def test_json_round_trip_and_unknown_fields() -> None:
    policy = RoutingPolicy(
        prices={"a": 1.0}, price_unit="query", lam=np.float32(2.0), budget=0.5, threshold=0.4,
        default="a",
    )  # fmt: skip
    text = json.dumps(policy.to_dict())
    assert RoutingPolicy.from_dict(json.loads(text)) == policy
    with pytest.raises(ValueError, match="unknown policy field"):
        RoutingPolicy.from_dict({"lam": 1.0, "exec": "rm -rf /"})


def test_decision_round_trips_through_its_dict() -> None:
    decision = RoutingPolicy(lam=0.05).decide(table())[1]
    again = RoutingDecision.from_dict(json.loads(json.dumps(decision.to_dict())))
    assert again == decision


# ---------------------------------------------------------------------- properties
matrices = st.integers(1, 6).flatmap(
    lambda k: st.tuples(
        arrays(np.float64, (5, k), elements=st.floats(0, 1)),
        arrays(np.float64, (5, k), elements=st.floats(0.01, 10)),
    )
)


@settings(max_examples=60, deadline=None)
@given(matrices, st.floats(0, 100))
def test_choice_maximises_quality_minus_lambda_cost(data, lam) -> None:
    quality, costs = data
    k = quality.shape[1]
    names = tuple(f"e{j}" for j in range(k))
    probs = np.full_like(quality, 1.0 / k)
    scores = ExpertScores(names, quality, probs, quality, costs)
    picked = RoutingPolicy(lam=lam).choose(scores).index
    utility = quality - lam * costs
    np.testing.assert_allclose(utility[np.arange(5), picked], utility.max(axis=1))


@settings(max_examples=60, deadline=None)
@given(matrices, st.data())
def test_choices_stay_within_available_experts(data, draw) -> None:
    quality, costs = data
    k = quality.shape[1]
    names = tuple(f"e{j}" for j in range(k))
    available = draw.draw(st.sets(st.sampled_from(names), min_size=1))
    probs = np.full_like(quality, 1.0 / k)
    scores = ExpertScores(names, quality, probs, quality, costs)
    policy = RoutingPolicy(lam=0.1, threshold=0.9, default=names[0])
    for decision in policy.decide(scores, available=available):
        assert decision.expert in available
        assert 0.0 <= decision.confidence <= 1.0 + 1e-12


def test_flagging_policy_never_guesses_a_default() -> None:
    decisions = RoutingPolicy(threshold=0.5, unsure="flag").decide(table(prior="mid"))
    assert (decisions[3].expert, decisions[3].rule) == ("dear", "unsure")
    with pytest.raises(ValueError, match="unsure"):
        RoutingPolicy(unsure="guess")  # type: ignore[arg-type]
