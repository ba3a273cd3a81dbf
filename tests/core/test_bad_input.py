"""Bad input gets a clear error that names the problem and the fix."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ir3de_core import ExpertError, IR3DERouter
from ir3de_core.featurizers import HashingFeaturizer
from ir3de_core.ridge.statistics import SufficientStatistics


@pytest.fixture(scope="module")
def router(prompts, domains) -> IR3DERouter:
    return IR3DERouter({"kind": "hashing", "n_features": 64}).fit(prompts, domains)


@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [([], ValueError, "empty list of prompts"), ([""], ValueError, "prompt 0 is empty"),
     (["ok", "   "], ValueError, "prompt 1 is empty"), (["ok", 3], TypeError, "prompt 1 is a int"),
     ("a string", TypeError, "wrap it"), ([None], TypeError, "not a str")],
)  # fmt: skip
def test_bad_prompts(router, bad, error, match) -> None:
    with pytest.raises(error, match=match):
        router.route(bad)
    with pytest.raises(error, match=match):
        IR3DERouter("hashing").fit(bad, ["a"] * (1 if isinstance(bad, str) else len(bad)))


def test_nan_scores_raise_or_are_left_out_with_a_count() -> None:
    prompts = ["a b", "c d", "e f"]
    scores = [{"x": 1.0, "y": math.nan}, {"x": 0.0, "y": 1.0}, {"x": None, "y": 0.5}]
    with pytest.raises(ValueError, match=r"2 scores are NaN or None .*missing_scores='ignore'"):
        IR3DERouter("hashing", target="quality").fit(prompts, scores)
    with pytest.warns(UserWarning, match="left 2 NaN/None scores out"):
        router = IR3DERouter("hashing", target="quality", missing_scores="ignore").fit(
            prompts, scores
        )
    assert router.statistics_.n_prompts.tolist() == [2, 2]  # never counted as zeros
    with pytest.raises(ValueError, match="inf"):
        IR3DERouter("hashing", target="quality").fit(prompts, np.array([[1.0], [np.inf], [0.0]]))
    with pytest.raises(TypeError, match="must be numbers"):
        IR3DERouter("hashing", target="quality").fit(prompts, [{"x": "high"}, {"x": 1}, {"x": 0}])


def test_label_and_score_counts_must_match_the_prompts() -> None:
    with pytest.raises(ValueError, match="expected 2 domain labels"):
        IR3DERouter("hashing").fit(["a", "b"], ["x"])
    with pytest.raises(ValueError, match="expected scores for 2 prompts"):
        IR3DERouter("hashing", target="quality").fit(["a", "b"], np.ones((3, 2)))
    with pytest.raises(ValueError, match="domain labels must be non-empty strings"):
        IR3DERouter("hashing").fit(["a", "b"], ["x", None])


def test_unknown_experts(router) -> None:
    with pytest.raises(ExpertError, match="unknown expert 'gpt-9'; known experts"):
        router.remove_expert("gpt-9")
    with pytest.raises(ExpertError, match="already exist"):
        router.add_expert("math", ["new math prompt"])


def test_removing_the_last_expert_is_refused() -> None:
    router = IR3DERouter("hashing").fit(["a b", "c d"], ["x", "x"])
    with pytest.raises(ExpertError, match="no experts"):
        router.remove_expert("x")


def test_wrong_feature_dimension(router, prompts) -> None:
    other = IR3DERouter(HashingFeaturizer(32).fit(prompts))
    stats = SufficientStatistics.empty(("a",), 64, "shared")
    with pytest.raises(ValueError, match="32 features but the statistics have 64"):
        other.fit_statistics(stats)
    broken = IR3DERouter({"kind": "hashing", "n_features": 64}).fit(
        prompts[:10], ["a"] * 5 + ["b"] * 5
    )
    broken.state_ = broken.state_.replace(featurizer=HashingFeaturizer(32).fit(prompts))
    with pytest.raises(ValueError, match=r"shape \(1, 32\) but the router was fitted on 64"):
        broken.route(["hello"])


def test_quality_add_expert_needs_scores(prompts) -> None:
    router = IR3DERouter("hashing", target="quality").fit(
        prompts[:4], np.ones((4, 1)), experts=["x"]
    )
    with pytest.raises(ValueError, match="needs the new expert's scores"):
        router.add_expert("y", prompts[:4])
