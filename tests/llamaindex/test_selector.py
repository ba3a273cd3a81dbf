"""IR3DESelector on its own: selection, scores, thresholds, caching and bad input (no model)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from llama_index.core.base.base_selector import SingleSelection
from llama_index.core.schema import QueryBundle
from llama_index.core.tools.types import ToolMetadata

from ir3de_core import IR3DERouter, NotFittedError, RoutingPolicy
from ir3de_core.featurizers import CachedFeaturizer
from ir3de_llamaindex import IR3DESelector, IR3DESelectorResult, NoChoiceError
from tests.llamaindex.corpus import EXAMPLES, LABELLED_QUERIES, NAMES

KEYWORD_EXAMPLES = {
    "astronomy": ["planet orbit star telescope", "galaxy star planet moon"],
    "cooking": ["recipe bake oven flour", "bake bread oven recipe"],
    "travel": ["flight visa passport luggage", "airport flight passport hotel"],
}


NAMES_3 = tuple(KEYWORD_EXAMPLES)


@pytest.fixture
def three() -> list[ToolMetadata]:
    return [ToolMetadata(name=n, description=f"questions about {n}") for n in KEYWORD_EXAMPLES]


def test_selects_the_trained_choice_and_carries_every_score(three: list[ToolMetadata]) -> None:
    selector = IR3DESelector(examples=KEYWORD_EXAMPLES)
    result = selector.select(three, "which oven temperature to bake bread")
    assert isinstance(result, IR3DESelectorResult)
    assert result.inds == [1]
    assert result.names == ["astronomy", "cooking", "travel"]
    assert len(result.scores) == len(result.probabilities) == 3
    assert np.argmax(result.scores) == 1
    assert sum(result.probabilities) == pytest.approx(1.0)
    assert 0.0 < result.confidence <= 1.0
    assert result.scores_by_name["cooking"] == max(result.scores)
    assert result.selected_names == ["cooking"]
    assert "cooking" in result.reason


def test_query_bundle_and_plain_string_choices_are_accepted() -> None:
    selector = IR3DESelector(examples={0: ["planet star orbit"], 1: ["flour oven bake"]})
    result = selector.select(["space things", "kitchen things"], QueryBundle("bake with flour"))
    assert result.names == ["#0", "#1"]
    assert result.ind == 1


def test_description_alone_represents_a_choice_without_examples() -> None:
    choices = [
        ToolMetadata(name="astronomy", description="planets stars galaxies telescopes"),
        ToolMetadata(name="cooking", description="recipes baking ovens flour"),
    ]
    selector = IR3DESelector(examples={"astronomy": ["what orbits the planet"]})
    assert selector.select(choices, "recipes for baking with flour").selected_names == ["cooking"]


def test_top_k_returns_best_first_and_threshold_filters(three: list[ToolMetadata]) -> None:
    query = "bake bread in the oven before the flight"
    multi = IR3DESelector(examples=KEYWORD_EXAMPLES, top_k=3).select(three, query)
    assert len(multi.inds) == 3
    ranked = [multi.scores[i] for i in multi.inds]
    assert ranked == sorted(ranked, reverse=True)
    p = sorted(multi.probabilities, reverse=True)
    cut = (p[1] + p[2]) / 2  # keeps exactly the two most probable choices
    two = IR3DESelector(examples=KEYWORD_EXAMPLES, top_k=3, threshold=cut).select(three, query)
    assert two.inds == multi.inds[:2]


def test_no_match_raises_with_the_scores_or_uses_the_default(three: list[ToolMetadata]) -> None:
    selector = IR3DESelector(examples=KEYWORD_EXAMPLES, threshold=0.99)
    with pytest.raises(NoChoiceError, match="lower the threshold or set default_choice") as info:
        selector.select(three, "weather tomorrow")
    assert info.value.result.inds == []
    assert info.value.result.rule == "unsure"
    assert len(info.value.result.scores) == 3
    assert max(info.value.result.probabilities) < 0.99
    fallback = IR3DESelector(examples=KEYWORD_EXAMPLES, threshold=0.99, default_choice="travel")
    result = fallback.select(three, "weather tomorrow")
    assert result.no_match is True
    assert result.rule == "default"
    assert result.selected_names == ["travel"]
    assert "default choice 'travel'" in result.reason
    by_index = IR3DESelector(examples=KEYWORD_EXAMPLES, threshold=0.99, default_choice=0)
    assert by_index.select(three, "weather tomorrow").ind == 0
    unknown = IR3DESelector(examples=KEYWORD_EXAMPLES, threshold=0.99, default_choice="nope")
    with pytest.raises(ValueError, match="default_choice 'nope' is not one of the choices"):
        unknown.select(three, "weather tomorrow")


def test_a_cost_aware_policy_decides_the_selection(three: list[ToolMetadata]) -> None:
    query = "which oven temperature to bake bread"
    cost = np.array([0.0, 1.0, 0.0])
    policy = RoutingPolicy(
        prices=dict(zip(NAMES_3, cost, strict=True)), price_unit="query", lam=1.0
    )
    result = IR3DESelector(examples=KEYWORD_EXAMPLES, policy=policy).select(three, query)
    p = np.array(result.probabilities)
    assert np.argmax(p) == 1 and p[1] > 0.9  # cooking is by far the most probable ...
    expected = int(np.argmax(p - 1.0 * cost))  # ... but not worth its price at λ = 1
    assert expected != 1
    assert (result.inds, result.rule, result.no_match) == ([expected], "cost", False)
    assert result.confidence == pytest.approx(p[expected])
    assert "by rule 'cost'" in result.reason
    cheap = IR3DESelector(examples=KEYWORD_EXAMPLES, policy=policy.replace(lam=0.1))
    assert cheap.select(three, query).selected_names == ["cooking"]


def test_a_policy_threshold_sends_unsure_queries_to_its_default(three: list[ToolMetadata]) -> None:
    selector = IR3DESelector(
        examples=KEYWORD_EXAMPLES, top_k=3, policy=RoutingPolicy(threshold=0.99, default="travel")
    )
    unsure = selector.select(three, "weather tomorrow")  # p = 0.38, 0.29, 0.33
    assert (unsure.selected_names, unsure.rule, unsure.no_match) == (["travel"], "default", True)
    sure = selector.select(three, "bake bread oven recipe flour")  # p(cooking) = 0.999
    assert (sure.selected_names, sure.rule, sure.no_match) == (["cooking"], "best", False)
    no_default = IR3DESelector(examples=KEYWORD_EXAMPLES, policy=RoutingPolicy(threshold=0.99))
    assert no_default.router_for(three).prior_ == "astronomy"  # the router has a prior ...
    with pytest.raises(NoChoiceError) as info:  # ... but a selector has no implicit default
        no_default.select(three, "weather tomorrow")
    assert info.value.result.rule == "unsure"


def test_the_default_comes_first_then_others_that_reach_the_threshold(
    three: list[ToolMetadata],
) -> None:
    prices = {"astronomy": 0.0, "cooking": 1.0, "travel": 0.0}
    policy = RoutingPolicy(prices=prices, price_unit="query", lam=1.0, threshold=0.5)
    selector = IR3DESelector(examples=KEYWORD_EXAMPLES, policy=policy, top_k=3, default_choice=0)
    result = selector.select(three, "which oven temperature to bake bread")
    # the cheap choice (travel, p = 0.05) is below 0.5: the default answers, and cooking
    # (p = 0.91) is the only other choice that reaches the threshold
    assert (result.selected_names, result.rule, result.no_match) == (
        ["astronomy", "cooking"],
        "default",
        True,
    )


def test_arguments_set_the_policys_threshold_and_default(three: list[ToolMetadata]) -> None:
    router = IR3DESelector(examples=KEYWORD_EXAMPLES).router_for(three)
    router.set_policy(RoutingPolicy(threshold=0.99, default="cooking", lam=0.0))
    from_router = IR3DESelector(router=router)
    assert from_router.policy_for(three) == router.policy_  # None: the router's policy
    assert from_router.select(three, "weather tomorrow").selected_names == ["cooking"]
    overridden = IR3DESelector(router=router, threshold=0.2, default_choice=2)
    assert overridden.policy_for(three) == RoutingPolicy(threshold=0.2, default="travel")
    assert overridden.select(three, "weather tomorrow").rule == "best"
    built = IR3DESelector(examples=KEYWORD_EXAMPLES, threshold=0.9, default_choice="travel")
    assert built.policy_for(three) == RoutingPolicy(threshold=0.9, default="travel")
    as_dict = IR3DESelector(
        examples=KEYWORD_EXAMPLES, policy={"threshold": 0.9, "default": "travel"}
    )
    assert as_dict.policy_for(three) == built.policy_for(three)
    with pytest.raises(TypeError, match="policy must be a RoutingPolicy, its dict or None"):
        IR3DESelector(policy=0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown policy field"):
        IR3DESelector(policy={"treshold": 0.5})


def test_routers_are_cached_per_choice_set_and_retrained_when_choices_change(
    three: list[ToolMetadata],
) -> None:
    selector = IR3DESelector(examples=KEYWORD_EXAMPLES)
    first = selector.router_for(three)
    assert selector.router_for(list(three)) is first
    assert first.experts_ == ("astronomy", "cooking", "travel")
    two = three[:2]
    smaller = selector.router_for(two)
    assert smaller is not first
    assert smaller.experts_ == ("astronomy", "cooking")
    redescribed = [*three[:2], ToolMetadata(name="travel", description="trains and planes")]
    assert selector.router_for(redescribed) is not first
    selector.add_examples("travel", ["train ticket platform timetable"])
    assert selector.router_for(three) is not first
    assert selector.select(three, "train ticket from the platform").selected_names == ["travel"]


def test_featurizations_of_choices_are_cached_for_stateless_featurizers(
    three: list[ToolMetadata],
) -> None:
    from ir3de_core.featurizers import Featurizer

    calls: list[list[str]] = []

    class CountingHashing:  # a stateless featurizer that records what it is asked to embed
        kind = "counting"
        n_features = 64

        def transform(self, texts: list[str]) -> np.ndarray:
            calls.append(list(texts))
            out = np.zeros((len(texts), 64), dtype=np.float32)
            for i, text in enumerate(texts):
                for word in text.split():
                    out[i, hash(word) % 64] += 1.0
            return out

        def get_config(self) -> dict[str, str]:
            return {"kind": "counting"}

    featurizer: Featurizer = CountingHashing()
    selector = IR3DESelector(examples=KEYWORD_EXAMPLES, featurizer=featurizer)
    selector.select(three, "bake bread")
    embedded_once = sum(len(c) for c in calls)
    selector.select(three[:2], "bake bread")  # retrains on texts already seen: nothing new
    assert sum(len(c) for c in calls) == embedded_once
    cache = selector.router_for(three).featurizer
    assert isinstance(cache, CachedFeaturizer)  # the core's one featurizer cache
    assert cache.max_size == 4096
    assert cache.cache_size == embedded_once


def test_a_pretrained_router_is_adapted_to_the_choices_without_being_changed() -> None:
    prompts = [q for name in NAMES for q in EXAMPLES[name]]
    labels = [name for name in NAMES for _ in EXAMPLES[name]]
    router = IR3DERouter("hashing").fit(prompts, labels)
    choices = [
        ToolMetadata(name="cooking", description="recipes"),
        ToolMetadata(name="travel", description="trips"),
        ToolMetadata(name="weather", description="rain forecast sunshine temperature wind"),
    ]
    selector = IR3DESelector(router=router)
    adapted = selector.router_for(choices)
    assert adapted.experts_ == ("cooking", "travel", "weather")
    assert router.experts_ == NAMES  # the given router is untouched
    result = selector.select(choices, "rain forecast for tomorrow")
    assert result.selected_names == ["weather"]


def test_async_select_matches_sync(three: list[ToolMetadata]) -> None:
    selector = IR3DESelector(examples=KEYWORD_EXAMPLES)
    sync = selector.select(three, "passport for the flight")
    result = asyncio.run(selector.aselect(three, "passport for the flight"))
    assert result.inds == sync.inds == [2]
    assert result.scores == pytest.approx(sync.scores)


def test_from_defaults_and_class_name() -> None:
    selector = IR3DESelector.from_defaults(EXAMPLES, top_k=2, alpha=0.5)
    assert IR3DESelector.class_name() == "IR3DESelector"
    result = selector.select(["a", "b", "c", "d", "e"], LABELLED_QUERIES[0][0])
    assert len(result.inds) == 2


# ---------------------------------------------------------------------------- bad input
def test_empty_choices_are_rejected() -> None:
    with pytest.raises(ValueError, match="got no choices"):
        IR3DESelector().select([], "anything")


def test_duplicate_choice_names_are_rejected() -> None:
    dup = [ToolMetadata(name="a", description="x"), ToolMetadata(name="a", description="y")]
    with pytest.raises(ValueError, match=r"duplicate choice names \['a'\]"):
        IR3DESelector().select(dup, "anything")


@pytest.mark.parametrize("query", [42, None, ["a list"], b"bytes"])
def test_queries_of_the_wrong_type_are_rejected(three: list[ToolMetadata], query: object) -> None:
    with pytest.raises(TypeError, match="query must be a str or a QueryBundle"):
        IR3DESelector().select(three, query)  # type: ignore[arg-type]


def test_empty_queries_are_rejected(three: list[ToolMetadata]) -> None:
    with pytest.raises(ValueError, match="the query is empty"):
        IR3DESelector().select(three, "   ")


def test_choices_of_the_wrong_type_are_rejected() -> None:
    with pytest.raises(TypeError, match="choice 1 is a int"):
        IR3DESelector().select(["ok", 3], "q")  # type: ignore[list-item]
    with pytest.raises(TypeError, match="choices must be a list"):
        IR3DESelector().select("just one string", "q")


def test_an_untrained_router_is_rejected_with_the_fix(three: list[ToolMetadata]) -> None:
    selector = IR3DESelector(router=IR3DERouter("hashing"))
    with pytest.raises(NotFittedError, match=r"not fitted; fit it on example queries"):
        selector.select(three, "bake bread")
    with pytest.raises(NotFittedError, match=r"not fitted"):
        asyncio.run(selector.aselect(three, "bake bread"))


def test_a_choice_with_nothing_to_learn_from_is_rejected() -> None:
    blank = [ToolMetadata(name="a", description="a thing"), ToolMetadata(name="b", description="")]
    with pytest.raises(NotFittedError, match="choice 'b' has neither example queries"):
        IR3DESelector().select(blank, "q")


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="top_k must be"):
        IR3DESelector(top_k=0)
    with pytest.raises(ValueError, match="threshold is a probability"):
        IR3DESelector(threshold=1.5)
    with pytest.raises(ValueError, match="needs a domain router"):
        IR3DESelector(router=IR3DERouter("hashing", target="quality"))
    with pytest.raises(TypeError, match="wrap a single query"):
        IR3DESelector().add_examples("a", "one query")  # type: ignore[arg-type]


def test_result_indices_are_validated_against_the_choices() -> None:
    common = {"names": ["a", "b"], "scores": [0.1, 0.2], "probabilities": [0.4, 0.6]}
    with pytest.raises(ValueError, match="within the 2 choices"):
        IR3DESelectorResult(
            selections=[SingleSelection(index=2, reason="r")], confidence=0.5, **common
        )
    with pytest.raises(ValueError, match="distinct"):
        IR3DESelectorResult(
            selections=[SingleSelection(index=0, reason="r")] * 2, confidence=0.5, **common
        )


# ---------------------------------------------------------------------------- properties
@pytest.fixture(scope="module")
def trained() -> tuple[IR3DESelector, list[ToolMetadata]]:
    choices = [ToolMetadata(name=n, description=f"questions about {n}") for n in NAMES]
    selector = IR3DESelector(examples=EXAMPLES, featurizer={"kind": "hashing", "n_features": 256})
    selector.router_for(choices)
    return selector, choices


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    query=st.text(alphabet=st.characters(categories=["L", "Zs"]), min_size=1, max_size=40).filter(
        str.strip
    ),
    top_k=st.integers(1, 6),
    threshold=st.one_of(st.none(), st.floats(0.0, 1.0)),
)
def test_selections_are_the_best_choices_above_the_threshold(
    trained: tuple[IR3DESelector, list[ToolMetadata]],
    query: str,
    top_k: int,
    threshold: float | None,
) -> None:
    base, choices = trained
    selector = IR3DESelector(examples=EXAMPLES, top_k=top_k, threshold=threshold, default_choice=0)
    selector._routers = base._routers  # share the trained router: this checks the selection
    result = selector.select(choices, query)
    probabilities = np.array(result.probabilities)
    assert probabilities.sum() == pytest.approx(1.0)
    assert np.all(np.diff(np.array(result.scores)[np.argsort(-probabilities)]) <= 1e-12)
    if result.no_match:
        assert result.inds == [0]
        assert threshold is not None and probabilities.max() < threshold
        return
    inds = result.inds
    assert 1 <= len(inds) <= min(top_k, len(choices))
    assert [result.scores[i] for i in inds] == sorted(
        (result.scores[i] for i in inds), reverse=True
    )
    assert max(result.scores) == result.scores[inds[0]]
    if threshold is not None:
        assert all(probabilities[i] >= threshold for i in inds)
