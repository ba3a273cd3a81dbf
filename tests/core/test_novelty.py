"""Novelty: the normalised leverage of a prompt under the ridge system, and the rule that sends
prompts unlike the training data to the default expert."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ir3de_core import IR3DERouter, RoutingPolicy
from ir3de_core.decide.decision import ExpertScores, RoutingDecision
from ir3de_core.decide.novelty import novelty_model
from ir3de_core.ridge.statistics import SufficientStatistics

EXPERTS = {"math": "M", "code": "C", "chat": "G", "law": "L"}
WORDS = {d: [f"{d}{i}" for i in range(30)] for d in [*EXPERTS, "poem"]}


def _rows(seed: int, n: int, d: int, k: int, design: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.2, 5.0, size=d) + rng.normal(size=d)
    if design == "shared":
        targets = np.full((n, k), np.nan)
        targets[np.arange(n), np.arange(n) % k] = 1.0
    else:
        targets = rng.normal(size=(n, k))
    return X, targets


def _closed_form(X: np.ndarray, w: np.ndarray, rows: np.ndarray, alpha: float) -> np.ndarray:
    """W·(x − x̄)ᵀ(S + αI)⁻¹(x − x̄) / tr(S(S + αI)⁻¹), from the rows themselves."""
    total = w.sum()
    mean = w @ X / total
    centred = X - mean
    S = (centred * w[:, None]).T @ centred
    A = S + alpha * np.eye(X.shape[1])
    df = np.trace(np.linalg.solve(A, S))
    delta = rows - mean
    return total * np.einsum("nd,nd->n", delta, np.linalg.solve(A, delta.T).T) / df


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(3, 40),
    d=st.integers(1, 12),
    k=st.integers(1, 3),
    alpha=st.floats(1e-3, 1e3),
    design=st.sampled_from(["shared", "per_group"]),
)
def test_novelty_is_the_closed_form_and_averages_one_on_the_training_rows(
    seed: int, n: int, d: int, k: int, alpha: float, design: str
) -> None:
    X, targets = _rows(seed, n, d, k, design)
    w = np.random.default_rng(seed + 1).uniform(0.5, 2.0, size=n)
    names = [f"g{j}" for j in range(k)]
    stats = SufficientStatistics.from_rows(X, targets, names, design=design, sample_weight=w)  # type: ignore[arg-type]
    model = novelty_model(stats, alpha)
    assert model is not None
    probe = np.vstack([X, np.random.default_rng(seed + 2).normal(size=(5, d)) * 3])
    want = _closed_form(X, w, probe, alpha)
    np.testing.assert_allclose(model.rows(probe), want, rtol=1e-6, atol=1e-8 * (1 + want.max()))
    assert float(w @ model.rows(X) / w.sum()) == pytest.approx(1.0, rel=1e-6)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(8, 40), d=st.integers(1, 8))
def test_novelty_survives_merges_and_removing_then_adding_a_domain(
    seed: int, n: int, d: int
) -> None:
    X, targets = _rows(seed, n, d, 3, "shared")
    names = ["a", "b", "c"]
    whole = SufficientStatistics.from_rows(X, targets, names, design="shared")
    half = n // 2
    merged = SufficientStatistics.from_rows(
        X[:half], targets[:half], names, design="shared"
    ) + SufficientStatistics.from_rows(X[half:], targets[half:], names, design="shared")
    readded = whole.remove_expert("b").add_expert(whole.select(["b"])).select(names)
    probe = np.random.default_rng(seed).normal(size=(6, d)) * 2
    want = novelty_model(whole, 1.0).rows(probe)  # type: ignore[union-attr]
    scale = 1e-7 * (1 + np.abs(want).max())
    for other in (
        merged,
        readded,
        SufficientStatistics.from_arrays(whole.to_arrays(), names, "shared"),
    ):
        got = novelty_model(other, 1.0).rows(probe)  # type: ignore[union-attr]
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=scale)


def test_in_quality_mode_an_expert_added_on_fewer_prompts_leaves_novelty_alone() -> None:
    X, targets = _rows(0, 60, 5, 2, "per_group")
    stats = SufficientStatistics.from_rows(X, targets, ["e0", "e1"], design="per_group")
    small = SufficientStatistics.from_rows(X[:10], targets[:10, :1], ["new"], design="per_group")
    probe = np.random.default_rng(1).normal(size=(4, 5))
    before = novelty_model(stats, 2.0).rows(probe)  # type: ignore[union-attr]
    after = novelty_model(stats.add_expert(small), 2.0).rows(probe)  # type: ignore[union-attr]
    np.testing.assert_allclose(after, before, rtol=1e-10)
    removed = novelty_model(stats.add_expert(small).remove_expert("new"), 2.0)
    np.testing.assert_allclose(removed.rows(probe), before, rtol=1e-10)  # type: ignore[union-attr]


def _prompts(n: int, domains: list[str], seed: int) -> tuple[list[str], list[str], list[dict]]:
    """Prompts of words from their domain's vocabulary; each domain has its expert (1.0), the
    generalist G scores 0.6 everywhere, the others 0.1 ("poem" has no expert of its own)."""
    rng = np.random.default_rng(seed)
    prompts, labels, scores = [], [], []
    for i in range(n):
        d = str(rng.choice(domains))
        prompts.append(" ".join(rng.choice(WORDS[d], 8)) + f" #{seed}-{i}")
        labels.append(d)
        best = EXPERTS.get(d)
        scores.append({e: 1.0 if e == best else 0.6 if e == "G" else 0.1 for e in "MCGL"})
    return prompts, labels, scores


@pytest.fixture(scope="module")
def fitted() -> IR3DERouter:
    prompts, labels, scores = _prompts(800, list(EXPERTS), seed=0)
    return IR3DERouter(
        {"kind": "hashing", "n_features": 512}, expert_map=EXPERTS, safe_default="novelty"
    ).fit(prompts, labels, scores=scores)


def test_a_novel_task_goes_to_the_default_and_known_tasks_are_still_routed(
    fitted: IR3DERouter,
) -> None:
    assert fitted.policy_.novelty_threshold is not None
    novel = fitted.route(_prompts(300, ["poem"], seed=1)[0])
    known_prompts, _, known_scores = _prompts(300, list(EXPERTS), seed=2)
    known = fitted.route(known_prompts)
    assert np.mean([d.rule == "default" and d.expert == "G" for d in novel]) > 0.9
    assert np.mean([d.rule == "best" for d in known]) > 0.9
    assert np.mean([s[d.expert] for s, d in zip(known_scores, known, strict=True)]) > 0.95
    novel_median = np.median([d.novelty for d in novel])
    assert novel_median > np.quantile([d.novelty for d in known], 0.95)
    off = fitted.route(_prompts(300, ["poem"], seed=1)[0], policy=fitted.policy_.replace(
        novelty_threshold=None))  # fmt: skip
    assert np.mean([d.expert == "G" for d in off]) < 0.5  # without the rule they scatter


def test_the_threshold_is_chosen_reproducibly_on_training_data(fitted: IR3DERouter) -> None:
    prompts, labels, scores = _prompts(800, list(EXPERTS), seed=0)
    again = IR3DERouter(
        {"kind": "hashing", "n_features": 512}, expert_map=EXPERTS, safe_default="novelty"
    ).fit(prompts, labels, scores=scores)
    assert again.policy_.novelty_threshold == fitted.policy_.novelty_threshold
    tuning = again.state_.tuning
    assert tuning.novelty_thresholds == fitted.state_.tuning.novelty_thresholds
    best = max(tuning.novelty_thresholds, key=lambda t: t["gain"])
    assert best["threshold"] == tuning.novelty_threshold and best["gain"] > 0


def test_no_threshold_when_novelty_does_not_help() -> None:
    """Every domain has a specialist that beats the generalist, and a domain left out is still
    better served by routing: the rule stays off (None)."""
    prompts, labels, _ = _prompts(600, list(EXPERTS), seed=3)
    scores = [{e: 1.0 if e == EXPERTS[d] else 0.0 for e in "MCGL"} for d in labels]
    router = IR3DERouter(
        {"kind": "hashing", "n_features": 512}, expert_map=EXPERTS, safe_default="novelty"
    ).fit(prompts, labels, scores=scores)
    assert router.policy_.novelty_threshold is None
    off = IR3DERouter(
        {"kind": "hashing", "n_features": 512}, expert_map=EXPERTS, safe_default=False
    ).fit(prompts, labels, scores=scores)
    assert off.policy_.novelty_threshold is None and off.state_.tuning.novelty_thresholds == []


def test_novelty_and_its_threshold_survive_save_and_load(
    fitted: IR3DERouter, tmp_path: Path
) -> None:
    prompts = _prompts(20, ["poem", "math"], seed=4)[0]
    loaded = IR3DERouter.load(fitted.save(tmp_path / "r"))
    assert loaded.policy_.novelty_threshold == fitted.policy_.novelty_threshold
    want = [(d.expert, d.rule, d.novelty) for d in fitted.route(prompts)]
    assert [(d.expert, d.rule, d.novelty) for d in loaded.route(prompts)] == want


def test_the_policy_rule_and_the_decision_carry_novelty() -> None:
    table = ExpertScores(
        experts=("a", "b"),
        scores=np.array([[0.9, 0.1], [0.9, 0.1], [0.9, 0.1]]),
        probabilities=np.array([[0.9, 0.1], [0.9, 0.1], [0.9, 0.1]]),
        quality=np.array([[0.9, 0.1], [0.9, 0.1], [0.9, 0.1]]),
        prior="b",
        novelty=np.array([0.5, 3.0, np.nan]),
    )
    decisions = RoutingPolicy(novelty_threshold=2.0).decide(table)
    assert [(d.expert, d.rule) for d in decisions] == [
        ("a", "best"),
        ("b", "default"),
        ("a", "best"),
    ]
    assert [d.novelty for d in decisions] == [0.5, 3.0, None]
    flagged = RoutingPolicy(novelty_threshold=2.0, unsure="flag").decide(table)
    assert [d.rule for d in flagged] == ["best", "unsure", "best"]
    again = RoutingDecision.from_dict(decisions[1].to_dict())
    assert again.novelty == 3.0
    assert RoutingPolicy(novelty_threshold=2.0).decide_again(again, available={"a", "b"}).rule == (
        "default"
    )
    policy = RoutingPolicy.from_dict(RoutingPolicy(novelty_threshold=1.5).to_dict())
    assert policy.novelty_threshold == 1.5
    for bad in (-1.0, "2", True, float("nan")):
        with pytest.raises(ValueError, match="novelty_threshold"):
            RoutingPolicy(novelty_threshold=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="novelty has shape"):
        ExpertScores(("a",), np.zeros((2, 1)), np.ones((2, 1)), np.ones((2, 1)),
                     novelty=np.zeros(3))  # fmt: skip


def test_after_feedback_novelty_and_spread_come_from_the_kept_inverse_and_equal_a_fresh_one() -> (
    None
):
    """A folded event gives its expert a new design block: its novelty and exploration spread
    come from the rank-one updater's inverse (no new decomposition on the routing path) and
    equal those of the same statistics decomposed from scratch."""
    from benchmarks.common.features import PrecomputedFeaturizer
    from ir3de_core.decide.novelty import NoveltyModel
    from ir3de_core.decide.uncertainty import block_inverse, prediction_spread
    from ir3de_core.ridge.scatter import Eigen

    X, targets = _rows(3, 80, 12, 2, "per_group")
    prompts = [f"p{i}" for i in range(80)]
    featurizer = PrecomputedFeaturizer(prompts, X)
    router = IR3DERouter(featurizer, target="quality", alpha=0.5)  # type: ignore[arg-type]
    router.fit(prompts, targets, experts=["a", "b"])
    rng = np.random.default_rng(4)
    for i in range(6):  # events for expert a only: its block is new, b's is the fitted one
        router.partial_fit_features(rng.normal(size=(1, 12)), [{"a": float(i % 2)}])
    stats, alpha = router.statistics_, 0.5
    new, old = (stats.blocks[b] for b in stats.block.tolist())
    assert block_inverse(new, alpha) is not None and block_inverse(old, alpha) is None
    model = novelty_model(stats, alpha)
    assert model is not None and model.inverse is not None  # a's block is the heaviest now
    rows = rng.normal(size=(5, 12))
    values, vectors = np.linalg.eigh(new.scatter.to_dense())
    fresh = NoveltyModel.of_eigen(new.weight, new.mean, Eigen(values, vectors, True), alpha)
    np.testing.assert_allclose(model.rows(rows), fresh.rows(rows), rtol=1e-9)
    spread = prediction_spread(stats, alpha, rows)
    expected = np.sqrt(1 / new.weight + fresh.eigen.leverage(rows - new.mean, alpha))
    np.testing.assert_allclose(spread[:, 0], expected, rtol=1e-9)
