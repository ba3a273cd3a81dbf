"""Self-tuning fits: cross-validation from per-fold statistics, "no signal", and what survives.

The held-out scores of ``alpha="auto"`` come from statistics (total − fold), never from a refit;
these tests refit plain routers on each fold's complement and check the numbers agree.
"""

from __future__ import annotations

import math
from dataclasses import replace
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ir3de_core import IR3DERouter, RoutingPolicy
from ir3de_core.data.records import Record
from ir3de_core.featurizers import HashingFeaturizer
from ir3de_core.fit.fold_paths import fold_projections, fold_solutions
from ir3de_core.fit.folds import HeldOutSample, fold_ids
from ir3de_core.ridge.solver import solve_path
from ir3de_core.ridge.statistics import SufficientStatistics
from ir3de_core.settings import RouterSettings

STATELESS = {"kind": "hashing", "n_features": 256, "tfidf": False}
"""A featurizer that learns nothing from the data, so a refit on a complement featurizes alike."""


def _regression(
    rng: np.random.Generator, n: int, d: int, k: int, design: str
) -> tuple[np.ndarray, np.ndarray]:
    """Badly scaled rows (n, d) and targets (n, k): one group per row (shared design), or
    scores with a fifth missing (per-group design)."""
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 10.0, size=d) + rng.normal(size=d)
    if design == "shared":
        targets = np.full((n, k), np.nan)
        targets[np.arange(n), rng.integers(0, k, size=n)] = 1.0
    else:
        targets = rng.normal(size=(n, k))
        targets[rng.random(size=(n, k)) < 0.2] = np.nan
    return X, targets


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(12, 60),
    d=st.integers(1, 6),
    k=st.integers(1, 3),
    folds=st.integers(2, 5),
    design=st.sampled_from(["shared", "per_group"]),
)
def test_fold_solutions_equal_solving_each_complement(
    seed: int, n: int, d: int, k: int, folds: int, design: str
) -> None:
    rng = np.random.default_rng(seed)
    X, targets = _regression(rng, n, d, k, design)
    names = [f"e{j}" for j in range(k)]
    fold = rng.integers(0, folds, size=n)
    parts = [
        SufficientStatistics.from_rows(X[fold == f], targets[fold == f], names, design=design)  # type: ignore[arg-type]
        if (fold == f).any()
        else None
        for f in range(folds)
    ]
    totals = SufficientStatistics.from_rows(X, targets, names, design=design)  # type: ignore[arg-type]
    alphas = [0.01, 1.0, 100.0]
    router_settings = RouterSettings.from_params({"target": "quality"})
    for f, (train, solutions) in enumerate(fold_solutions(totals, parts, alphas, router_settings)):
        rest = fold != f
        if not rest.any():
            continue
        refit = SufficientStatistics.from_rows(X[rest], targets[rest], names, design=design)  # type: ignore[arg-type]
        assert train.equals(refit.without_scatter(), atol=1e-8 * (1 + np.abs(X).max() ** 2))
        expected = solve_path(refit, alphas, balance=router_settings.balance)
        for got, want in zip(solutions, expected, strict=True):
            np.testing.assert_allclose(X @ got.coef + got.intercept,
                                       X @ want.coef + want.intercept, rtol=1e-6, atol=1e-6)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(6, 40),
    d=st.integers(1, 30),
    k=st.integers(1, 4),
    design=st.sampled_from(["shared", "per_group"]),
    intercept=st.sampled_from(["centered", "penalized", "none"]),
    normalize=st.booleans(),
)
def test_projected_scores_equal_the_path_solutions(
    seed: int, n: int, d: int, k: int, design: str, intercept: str, normalize: bool
) -> None:
    """The held-out scores cross-validation uses for rows (never forming an α's weights)
    equal scoring the rows with the path's solutions, thin (n < d) or complete, in every
    intercept mode, normalised or not, and with α = ∞ (no signal)."""
    rng = np.random.default_rng(seed)
    X, targets = _regression(rng, n, d, k, design)
    names = [f"e{j}" for j in range(k)]
    fold = np.arange(n) % 3
    parts = [
        SufficientStatistics.from_rows(X[fold == f], targets[fold == f], names, design=design)  # type: ignore[arg-type]
        for f in range(3)
    ]
    totals = parts[0] + parts[1] + parts[2]
    alphas = [1e-3, 0.5, 30.0, math.inf]
    router_settings = RouterSettings.from_params({"target": "quality", "intercept": intercept})
    router_settings = replace(router_settings, normalize=normalize)
    held = [X[fold == f] for f in range(3)]
    solved = fold_solutions(totals, parts, alphas, router_settings)
    projected = fold_projections(totals, parts, alphas, router_settings, held)
    scale = 1 + np.abs(X).max()
    for f in range(3):
        path, projection = solved[f][1], projected[f][1]
        assert projection is not None
        for i in range(len(alphas)):
            want = held[f] @ path[i].coef + path[i].intercept
            np.testing.assert_allclose(projection.scores(i), want, rtol=1e-7, atol=1e-9 * scale)


def _observed(scores: list[dict[str, float]], prompts_index: list[int], chosen: list[str]) -> float:
    return float(np.mean([scores[i][e] for i, e in zip(prompts_index, chosen, strict=True)]))


def test_cv_scores_equal_plain_routers_refitted_on_each_complement(prompts, quality_scores) -> None:
    router = IR3DERouter(STATELESS, target="quality").fit(prompts, quality_scores)
    results = router.cv_results_
    assert (
        results is not None and results["criterion"] == "mean observed score of the chosen expert"
    )
    assert results["n_held_out"] == len(prompts)  # small data: every prompt is held out once
    folds = fold_ids(prompts, results["folds"])
    candidates = results["candidates"]
    for candidate in [candidates[0], candidates[len(candidates) // 2], candidates[-1]]:
        alpha = candidate["alpha"]
        order: list[int] = []
        chosen: list[str] = []
        for f in range(results["folds"]):
            train = [i for i in range(len(prompts)) if folds[i] != f]
            test = [i for i in range(len(prompts)) if folds[i] == f]
            if alpha == math.inf:  # no signal: the complement's best single expert
                means = {
                    e: np.mean([quality_scores[i][e] for i in train]) for e in quality_scores[0]
                }
                picks = [max(means, key=means.__getitem__)] * len(test)
            else:
                plain = IR3DERouter(STATELESS, target="quality", alpha=alpha, safe_default=False)
                plain.fit([prompts[i] for i in train], [quality_scores[i] for i in train])
                picks = list(plain.predict([prompts[i] for i in test]))
            order += test
            chosen += picks
        assert candidate["score"] == pytest.approx(
            _observed(quality_scores, order, chosen), abs=1e-9
        )


def test_no_signal_routes_every_prompt_to_the_best_single_expert(prompts, quality_scores) -> None:
    router = IR3DERouter(STATELESS, target="quality", alpha=math.inf).fit(prompts, quality_scores)
    means = {e: np.mean([s[e] for s in quality_scores]) for e in quality_scores[0]}
    best = max(means, key=means.__getitem__)
    assert set(router.predict(prompts)) == {best}
    assert router.prior_ == best


@pytest.mark.parametrize("featurizer", ["tokens", STATELESS], ids=["tokens", "hashing"])
def test_random_targets_choose_no_signal(prompts, featurizer) -> None:
    rng = np.random.default_rng(0)
    experts = ["A", "B", "C"]
    scores = [
        {e: float(rng.random() < p) for e, p in zip(experts, (0.5, 0.6, 0.4), strict=True)}
        for _ in prompts
    ]
    router = IR3DERouter(featurizer, target="quality").fit(prompts, scores)
    assert router.alpha_ == math.inf, router.cv_results_
    assert router.cv_results_ is not None and router.cv_results_["alpha"] == math.inf
    assert set(router.predict(prompts)) == {router.prior_}


def test_a_routing_signal_is_found_and_beats_no_signal(prompts, quality_scores) -> None:
    router = IR3DERouter("tokens", target="quality").fit(prompts, quality_scores)
    assert math.isfinite(router.alpha_)
    results = router.cv_results_
    assert results is not None
    none = next(c for c in results["candidates"] if c["alpha"] == math.inf)
    chosen = next(
        c for c in results["candidates"]
        if c["alpha"] == router.alpha_ and c["aggregation"] == router.aggregation_
    )  # fmt: skip
    assert chosen["score"] > none["score"] + 0.1


def test_alpha_and_cv_results_survive_save_load_and_added_data(
    tmp_path, prompts, quality_scores
) -> None:
    router = IR3DERouter("tokens", target="quality").fit(prompts, quality_scores)
    loaded = IR3DERouter.load(router.save(tmp_path / "r"))
    assert loaded.alpha_ == router.alpha_ and loaded.aggregation_ == router.aggregation_
    assert loaded.cv_results_ == router.cv_results_
    assert loaded.policy_ == router.policy_
    loaded.partial_fit(prompts[:10], quality_scores[:10])  # more data: same α, same aggregation
    assert loaded.alpha_ == router.alpha_ and loaded.aggregation_ == router.aggregation_
    assert loaded.cv_results_ == router.cv_results_


def test_parts_summed_in_any_grouping_tune_like_one_fit(prompts, quality_scores) -> None:
    one = IR3DERouter("tokens", target="quality").fit(prompts, quality_scores)
    chunked = IR3DERouter("tokens", target="quality")
    spec = chunked.fit_spec()
    parts = [
        spec.part(prompts[i : i + 25], quality_scores[i : i + 25])
        for i in range(0, len(prompts), 25)
    ]
    total = parts[0]
    for part in reversed(parts[1:]):  # another order than the one fit's
        total = total + part
    chunked.fit_part(total, spec)
    assert chunked.alpha_ == pytest.approx(one.alpha_, rel=1e-12)  # sums in another order
    assert chunked.aggregation_ == one.aggregation_
    got, want = chunked.cv_results_, one.cv_results_
    assert got is not None and want is not None
    for a, b in zip(got["candidates"], want["candidates"], strict=True):
        assert a["alpha"] == pytest.approx(b["alpha"]) and a["score"] == pytest.approx(b["score"])
    np.testing.assert_allclose(chunked.decision_function(prompts), one.decision_function(prompts),
                               atol=1e-9)  # fmt: skip


def test_random_domain_labels_choose_no_signal(prompts) -> None:
    rng = np.random.default_rng(1)
    labels = [str(d) for d in rng.choice(["a", "b", "c"], p=[0.5, 0.3, 0.2], size=len(prompts))]
    router = IR3DERouter("tokens").fit(prompts, labels)
    assert router.alpha_ == math.inf, router.cv_results_
    assert router.cv_results_ is not None
    assert router.cv_results_["criterion"] == "routing accuracy"
    assert set(router.predict(prompts)) == {"a"}  # the most frequent domain's expert


class CountingHashing(HashingFeaturizer):
    """The hashing featurizer, counting the prompts it featurizes."""

    def __init__(self, n_features: int = 256) -> None:
        super().__init__(n_features, tfidf=False)
        self.featurized = 0

    def transform(self, texts):  # type: ignore[no-untyped-def]
        self.featurized += len(texts)
        return super().transform(texts)


def test_a_tuned_fit_featurizes_each_prompt_once(prompts, quality_scores) -> None:
    featurizer = CountingHashing()
    IR3DERouter(featurizer, target="quality").fit(prompts, quality_scores)
    assert featurizer.featurized == len(prompts)


@settings(max_examples=30, deadline=None)
@given(cut=st.integers(0, 40), size=st.integers(1, 50), seed=st.integers(0, 1000))
def test_held_out_samples_merge_with_their_feature_rows(cut: int, size: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    records = [Record(f"prompt {rng.integers(10**9)}", {"a": 1.0}) for _ in range(40)]
    features = rng.normal(size=(40, 3))
    with patch("ir3de_core.fit.folds.SAMPLE_SIZE", size):
        whole = HeldOutSample.of(records, features)
        merged = HeldOutSample.of(records[:cut], features[:cut]) + HeldOutSample.of(
            records[cut:], features[cut:]
        )
    np.testing.assert_array_equal(merged.hashes, whole.hashes)
    assert merged.prompts == whole.prompts
    assert merged.features is not None and whole.features is not None
    np.testing.assert_array_equal(merged.features, whole.features)
    index = {r.prompt: i for i, r in enumerate(records)}
    np.testing.assert_array_equal(whole.features, features[[index[p] for p in whole.prompts]])


_WORDS = {
    "math": "integral derivative equation solve algebra matrix prime fraction geometry triangle",
    "code": "python function compile bug loop array class javascript debug variable",
    "chat": "weather holiday friend movie dinner music travel garden birthday coffee",
}


def _mixed_prompts(n: int, seed: int) -> tuple[list[str], list[str], list[dict[str, float]]]:
    """Math, code and chat prompts with their domain's expert right, and prompts mixing math and
    code words, labelled either way at random, that only the generalist ``G`` answers well."""
    rng = np.random.default_rng(seed)
    words = {domain: text.split() for domain, text in _WORDS.items()}
    prompts, labels, scores = [], [], []
    for i in range(n):
        kind = rng.choice(["math", "code", "chat", "mixed"], p=[0.3, 0.3, 0.2, 0.2])
        if kind == "mixed":
            chosen = [*rng.choice(words["math"], 3), *rng.choice(words["code"], 3)]
            label = str(rng.choice(["math", "code"]))
            score = {e: float(rng.random() < p) for e, p in (("M", 0.3), ("C", 0.3), ("G", 0.7))}
        else:
            chosen, label = list(rng.choice(words[kind], 6)), str(kind)
            score = {"M": float(kind == "math"), "C": float(kind == "code"), "G": 0.7}
        rng.shuffle(chosen)
        prompts.append(" ".join(chosen) + f" #{seed}-{i}")
        labels.append(label)
        scores.append(score)
    return prompts, labels, scores


def test_a_safe_default_is_learnt_where_it_helps_and_helps_on_new_prompts() -> None:
    """Prompts the router is unsure of (mixed domains) are better sent to the generalist: the
    fit's cross-validation finds a threshold, and on prompts it never saw the threshold gains."""
    prompts, labels, scores = _mixed_prompts(600, seed=0)
    router = IR3DERouter(
        {"kind": "hashing", "n_features": 1024}, expert_map={"math": "M", "code": "C", "chat": "G"}
    ).fit(prompts, labels, scores=scores)
    assert router.policy_.threshold is not None
    test_prompts, _, test_scores = _mixed_prompts(2000, seed=1)

    def mean_observed(policy: RoutingPolicy) -> float:
        decisions = router.route(test_prompts, policy=policy)
        return float(np.mean([s[d.expert] for s, d in zip(test_scores, decisions, strict=True)]))

    with_default = mean_observed(router.policy_)
    without = mean_observed(router.policy_.replace(threshold=None))
    assert with_default > without + 0.03
    assert with_default > float(np.mean([s["G"] for s in test_scores])) + 0.1  # still routes


def test_a_projection_scores_new_alphas_as_a_fresh_one_does() -> None:
    """`ProjectedPath.along`: the grid's extension and α = ∞ reuse a fold's projection; their
    scores equal projecting again at those α. A path of α = ∞ alone refuses a finite α."""
    rng = np.random.default_rng(3)
    X, targets = _regression(rng, 30, 50, 4, "per_group")
    names = [f"e{j}" for j in range(4)]
    fold = np.arange(30) % 3
    parts = [
        SufficientStatistics.from_rows(X[fold == f], targets[fold == f], names, design="per_group")
        for f in range(3)
    ]
    totals = parts[0] + parts[1] + parts[2]
    held = [X[fold == f] for f in range(3)]
    router_settings = RouterSettings.from_params({"target": "quality"})
    first = fold_projections(totals, parts, [0.1, 1.0], router_settings, held)
    later = [300.0, math.inf]
    fresh = fold_projections(totals, parts, later, router_settings, held)
    for (_, reused), (_, again) in zip(first, fresh, strict=True):
        assert reused is not None and again is not None
        moved = reused.along(later)
        for i in range(len(later)):
            np.testing.assert_allclose(moved.scores(i), again.scores(i), rtol=1e-10, atol=1e-12)
    only_inf = fold_projections(totals, parts, [math.inf], router_settings, held)[0][1]
    assert only_inf is not None
    with pytest.raises(ValueError, match="cannot score a finite"):
        only_inf.along([1.0])
