"""IR3DERouter: fit, route, add/remove experts equal a fresh fit, the estimator contract."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from ir3de_core import IR3DERouter, NotFittedError
from ir3de_core.featurizers import HashingFeaturizer

FEATURIZERS = ["tokens", {"kind": "hashing", "n_features": 256}]
AGGREGATIONS = ["vote", "average", "pooled"]


def _fitted_hashing(prompts: list[str]) -> HashingFeaturizer:
    return HashingFeaturizer(256).fit(prompts)


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_domain_router_routes_held_out_prompts_to_their_domain(
    prompts, domains, aggregation
) -> None:
    train = [i for i in range(len(prompts)) if i % 5]
    test = [i for i in range(len(prompts)) if i % 5 == 0]
    router = IR3DERouter("tokens", aggregation=aggregation, alpha=1.0)
    router.fit([prompts[i] for i in train], [domains[i] for i in train])
    predicted = router.predict_domain([prompts[i] for i in test])
    accuracy = np.mean([p == domains[i] for p, i in zip(predicted, test, strict=True)])
    assert accuracy >= 0.7, accuracy  # 4 balanced domains: chance is 0.25


def test_decisions_carry_all_scores_a_confidence_and_an_explanation(prompts, domains) -> None:
    router = IR3DERouter(
        "tokens", expert_map={"math": "M", "code": "C", "multilingual": "L", "writing": "W"}
    )
    router.fit(prompts, domains)
    decision = router.explain("Compute the derivative of x^2 + 3x.")
    assert decision.expert == "M" and decision.domain == "math"
    assert set(decision.scores) == {"M", "C", "L", "W"}
    assert 0.0 < decision.confidence <= 1.0
    assert decision.ranking()[0] == "M"
    assert decision.explanation and decision.explanation[0].weight > 0
    assert decision.to_dict()["explanation"][0]["text"] == decision.explanation[0].text


@pytest.mark.parametrize("featurizer", FEATURIZERS, ids=["tokens", "hashing"])
@pytest.mark.parametrize("aggregation", ["vote", "pooled"])
def test_add_then_remove_domain_equals_fresh_fit(prompts, domains, featurizer, aggregation) -> None:
    if isinstance(featurizer, dict):
        featurizer = _fitted_hashing(prompts)
    keep = [i for i, d in enumerate(domains) if d != "writing"]
    new = [i for i, d in enumerate(domains) if d == "writing"]
    settings = {"aggregation": aggregation, "alpha": 0.5}
    base = IR3DERouter(featurizer, **settings).fit(
        [prompts[i] for i in keep], [domains[i] for i in keep]
    )
    grown = clone(base).fit([prompts[i] for i in keep], [domains[i] for i in keep])
    grown.add_expert("writing", [prompts[i] for i in new])
    order = keep + new
    fresh = IR3DERouter(featurizer, **settings).fit(
        [prompts[i] for i in order], [domains[i] for i in order]
    )
    assert grown.groups_ == fresh.groups_
    np.testing.assert_allclose(grown.coef_, fresh.coef_, atol=1e-8)
    np.testing.assert_allclose(grown.intercept_, fresh.intercept_, atol=1e-8)
    shrunk = grown.remove_expert("writing")
    np.testing.assert_allclose(shrunk.coef_, base.coef_, atol=1e-8)
    np.testing.assert_allclose(shrunk.intercept_, base.intercept_, atol=1e-8)


@pytest.mark.parametrize("featurizer", FEATURIZERS, ids=["tokens", "hashing"])
def test_add_then_remove_quality_expert_equals_fresh_fit(
    prompts, quality_scores, featurizer
) -> None:
    if isinstance(featurizer, dict):
        featurizer = _fitted_hashing(prompts)
    without_w = [{e: s for e, s in row.items() if e != "w"} for row in quality_scores]
    settings = {"target": "quality", "aggregation": "average", "alpha": 1.0}
    base = IR3DERouter(featurizer, **settings).fit(prompts, without_w)
    grown = clone(base).fit(prompts, without_w)
    grown.add_expert("w", prompts[:60], [row["w"] for row in quality_scores[:60]])
    partial = [
        {**row, **({"w": quality_scores[i]["w"]} if i < 60 else {})}
        for i, row in enumerate(without_w)
    ]
    fresh = IR3DERouter(featurizer, **settings).fit(prompts, partial)
    np.testing.assert_allclose(grown.coef_, fresh.coef_, atol=1e-8)
    np.testing.assert_allclose(
        grown.decision_function(prompts[:5]), fresh.decision_function(prompts[:5]), atol=1e-8
    )
    np.testing.assert_allclose(grown.remove_expert("w").coef_, base.coef_, atol=1e-8)


def test_quality_router_predicts_the_better_expert(prompts, quality_scores) -> None:
    router = IR3DERouter("tokens", target="quality", aggregation="average", alpha=0.1)
    router.fit(prompts, quality_scores)
    scores = router.decision_function(["Write a Java class that parses JSON."])
    assert router.experts_[int(scores.argmax())] == "c"
    assert scores.shape == (1, 4)


def test_partial_fit_in_chunks_equals_one_fit(prompts, domains) -> None:
    whole = IR3DERouter("tokens", alpha=1.0).fit(prompts, domains)
    chunked = (
        IR3DERouter("tokens", alpha=1.0)
        .partial_fit(prompts[:50], domains[:50])
        .partial_fit(prompts[50:], domains[50:])
    )
    assert set(chunked.groups_) == set(whole.groups_)
    order = [chunked.groups_.index(g) for g in whole.groups_]
    np.testing.assert_allclose(chunked.coef_[:, order], whole.coef_, atol=1e-8)


def test_feedback_event_updates_one_expert(prompts, quality_scores) -> None:
    router = IR3DERouter("hashing", target="quality").fit(prompts, quality_scores)
    before = router.coef_.copy()
    router.partial_fit(["Solve 2x = 4."], [{"c": 1.0}])
    changed = np.abs(router.coef_ - before).max(axis=0) > 0
    assert changed.tolist() == [False, True, False, False]  # experts m, c, l, w


def test_expert_map_learned_from_scores(prompts, domains, quality_scores) -> None:
    router = IR3DERouter("hashing").fit(prompts, domains, scores=quality_scores)
    assert router.expert_map_ == {"math": "m", "code": "c", "multilingual": "l", "writing": "w"}
    assert router.predict(["Compute the integral of x^2 from 0 to 2."])[0] == "m"


def test_domains_sharing_an_expert_are_merged_in_its_score(prompts, domains) -> None:
    router = IR3DERouter(
        "tokens",
        expert_map={"math": "big", "code": "big", "multilingual": "poly", "writing": "big"},
    )
    router.fit(prompts, domains)
    assert router.experts_ == ("big", "poly")
    assert router.predict(["¿Dónde está la biblioteca?"])[0] == "poly"
    router.remove_expert("big")
    assert router.experts_ == ("poly",)


def test_entropy_top_k_votes_with_few_tokens(prompts, domains) -> None:
    router = IR3DERouter("tokens", aggregation="vote", entropy_top_k=3).fit(prompts, domains)
    decision = router.route(["Compute the determinant and the eigenvalues of the 3x3 matrix."])[0]
    assert decision.domain == "math"
    assert decision.confidence in (1 / 3, 2 / 3, 1.0)  # shares of three votes


def test_estimator_contract(prompts, domains) -> None:
    router = IR3DERouter("hashing", alpha=2.0)
    assert router.get_params()["alpha"] == 2.0
    assert router.set_params(alpha=3.0) is router and router.alpha == 3.0
    with pytest.raises(NotFittedError, match="call fit"):
        router.route(["hello"])
    assert router.fit(prompts, domains) is router
    assert router.n_features_in_ == 1024
    assert not hasattr(clone(router), "coef_")


@pytest.mark.parametrize(
    ("setting", "match"),
    [({"target": "label"}, "target"), ({"alpha": -1}, "alpha"), ({"aggregation": "max"}, "aggregation"),
     ({"entropy_top_k": 0}, "entropy_top_k"), ({"featurizer": "bert"}, "unknown featurizer")],
)  # fmt: skip
def test_bad_settings_are_named(prompts, domains, setting, match) -> None:
    with pytest.raises(ValueError, match=match):
        IR3DERouter(**{"featurizer": "hashing", **setting}).fit(prompts, domains)


def test_quality_fit_names_array_columns_with_experts(prompts) -> None:
    router = IR3DERouter("hashing", target="quality").fit(
        prompts[:6], np.eye(6)[:, :2], experts=["p", "q"]
    )
    assert router.experts_ == ("p", "q")
    assert set(router.route(prompts[:1])[0].scores) == {"p", "q"}
