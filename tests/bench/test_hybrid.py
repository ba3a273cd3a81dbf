"""DomainQualityRouter: domain probabilities × per-domain quality regressions (hashing, offline)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from benchmarks.common.hybrid import DomainQualityRouter
from ir3de_core.exceptions import ExpertError
from ir3de_core.featurizers import HashingFeaturizer
from ir3de_core.router import IR3DERouter

EXPERTS = ["coder", "mathematician", "generalist"]


def _data(n: int = 60, seed: int = 0) -> tuple[list[str], list[str], np.ndarray]:
    """Two domains; inside `math`, 'integral' prompts favour the mathematician."""
    rng = np.random.default_rng(seed)
    prompts, domains, scores = [], [], []
    for i in range(n):
        if i % 2:
            hard = rng.random() < 0.5
            word = "integral" if hard else "sum"
            prompts.append(f"compute the {word} of x number {i} please")
            domains.append("math")
            scores.append([0.1, 0.9 if hard else 0.3, 0.2 if hard else 0.6])
        else:
            prompts.append(f"write a python function number {i} that sorts a list")
            domains.append("code")
            scores.append([0.9, 0.2, 0.5])
    return prompts, domains, np.array(scores)


def _router(**settings: object) -> DomainQualityRouter:
    return DomainQualityRouter(
        IR3DERouter(HashingFeaturizer(256, tfidf=False), alpha=1.0),
        quality_featurizer=HashingFeaturizer(256, tfidf=False),
        **settings,  # type: ignore[arg-type]
    )


def test_routes_by_domain_and_by_prompt() -> None:
    prompts, domains, scores = _data()
    router = _router(alpha=0.1).fit(prompts, domains, scores, experts=EXPERTS)
    assert router.experts_ == tuple(EXPERTS)
    assert router.coef_.shape == (2, 256, 3)
    picks = router.predict(
        ["write a python function number 7 that sorts a list", "compute the integral of x",
         "compute the sum of x"]
    )  # fmt: skip
    assert picks.tolist() == ["coder", "mathematician", "generalist"]
    assert router.predict_domain(["compute the sum of x"]).tolist() == ["math"]


def test_large_alpha_falls_back_to_the_task_oracle() -> None:
    prompts, domains, scores = _data()
    router = _router(alpha=1e9).fit(prompts, domains, scores, experts=EXPERTS)
    means = router.expert_means_["math"]
    best_math = max(means, key=lambda e: means[e])
    assert set(router.predict(["compute the integral of x", "compute the sum of x"])) == {best_math}


def test_soft_domain_probabilities_sum_to_one() -> None:
    prompts, domains, scores = _data()
    router = _router(temperature=0.5).fit(prompts, domains, scores, experts=EXPERTS)
    p = router.domain_probabilities(prompts[:5])
    assert p.shape == (5, 2)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert router.decision_function(prompts[:5]).shape == (5, 3)


def test_add_expert_equals_a_fresh_fit_and_remove_undoes_it() -> None:
    prompts, domains, scores = _data()
    base = _router(alpha=0.5).fit(prompts, domains, scores[:, :2], experts=EXPERTS[:2])
    before = base.coef_.copy()
    base.add_expert("generalist", prompts, domains, scores[:, 2])
    fresh = _router(alpha=0.5).fit(prompts, domains, scores, experts=EXPERTS)
    assert base.experts_ == fresh.experts_
    np.testing.assert_allclose(base.coef_, fresh.coef_, atol=1e-10)
    np.testing.assert_allclose(base.intercept_, fresh.intercept_, atol=1e-10)
    base.remove_expert("generalist")
    np.testing.assert_allclose(base.coef_, before, atol=1e-10)


def test_errors_name_the_fix() -> None:
    prompts, domains, scores = _data()
    with pytest.raises(NotFittedError, match="call fit"):
        _router().predict(["x"])
    with pytest.raises(ValueError, match="temperature"):
        _router(temperature=0.0).fit(prompts, domains, scores, experts=EXPERTS)
    router = _router().fit(prompts, domains, scores, experts=EXPERTS)
    with pytest.raises(ExpertError, match="unknown expert"):
        router.remove_expert("nobody")
    code_only = [p for p, d in zip(prompts, domains, strict=True) if d == "code"]
    with pytest.raises(ValueError, match="every domain"):
        router.add_expert("new", code_only, ["code"] * len(code_only), np.ones(len(code_only)))
    with pytest.raises(ValueError, match="domain labels"):
        _router().fit(prompts, domains[:-1], scores, experts=EXPERTS)
