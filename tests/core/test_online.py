"""Online updates: rank-one steps equal a re-solve of the exact sums, and equal a fresh fit."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.common.features import PrecomputedFeaturizer
from ir3de_core import ExpertError, IR3DERouter, SufficientStatistics
from ir3de_core.ridge.online import RankOneRidge
from ir3de_core.ridge.solver import solve_statistics

EXPERTS = ("a", "b", "c")
Batch = tuple[np.ndarray, np.ndarray, np.ndarray]


@st.composite
def event_streams(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, list[Batch]]:
    """Seed rows (some experts unscored, maybe one with no data), then batches of events."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    d, n_seed = draw(st.integers(2, 12)), draw(st.integers(0, 30))
    scale = draw(st.sampled_from([0.1, 1.0, 10.0]))
    X = rng.normal(size=(n_seed, d)) * scale
    Y = rng.normal(size=(n_seed, len(EXPERTS)))
    Y[rng.random(Y.shape) < 0.4] = np.nan
    if draw(st.booleans()):
        Y[:, 2] = np.nan  # expert c has no data until its first event
    batches = []
    for size in draw(st.lists(st.integers(1, 8), min_size=1, max_size=12)):
        targets = rng.normal(size=(size, len(EXPERTS)))
        targets[rng.random(targets.shape) < 0.5] = np.nan
        batches.append((rng.normal(size=(size, d)) * scale, targets, rng.uniform(0.5, 2, size)))
    return X, Y, batches


@settings(max_examples=60, deadline=None)
@given(event_streams(), st.floats(0.05, 20.0), st.integers(1, 50))
def test_rank_one_updates_equal_a_resolve_of_the_sums(stream, alpha, refresh_every) -> None:
    X, Y, batches = stream
    stats = SufficientStatistics.from_rows(X, Y, EXPERTS, design="per_group")
    online = RankOneRidge.from_statistics(stats, alpha, refresh_every=refresh_every)
    for rows, targets, weights in batches:
        online.add_rows(rows, targets, sample_weight=weights)
        stats = stats.partial_fit(rows, targets, sample_weight=weights)
    assert stats.equals(online.statistics, atol=1e-9)
    exact = solve_statistics(stats, alpha=alpha, intercept="centered")
    np.testing.assert_allclose(online.coef, exact.coef, atol=1e-7, rtol=1e-6)
    np.testing.assert_allclose(online.intercept, exact.intercept, atol=1e-7, rtol=1e-6)


def test_from_statistics_never_changes_the_callers_statistics() -> None:
    rng = np.random.default_rng(0)
    stats = SufficientStatistics.from_rows(
        rng.normal(size=(10, 4)), rng.normal(size=(10, 3)), EXPERTS, design="per_group"
    )
    before = stats.copy()
    online = RankOneRidge.from_statistics(stats, 1.0)
    online.update(rng.normal(size=4), "b", 0.5)
    assert stats.equals(before)
    assert not online.statistics.equals(before)


def test_bad_events_are_refused_before_anything_changes() -> None:
    rng = np.random.default_rng(1)
    stats = SufficientStatistics.from_rows(
        rng.normal(size=(10, 4)), rng.normal(size=(10, 3)), EXPERTS, design="per_group"
    )
    online = RankOneRidge.from_statistics(stats, 1.0)
    before, coef = online.statistics.copy(), online.coef.copy()
    with pytest.raises(ExpertError, match="unknown expert 'z'"):
        online.update(np.ones(4), "z", 1.0)
    with pytest.raises(ValueError, match="positive weights"):
        online.update(np.ones(4), "a", 1.0, weight=0.0)
    with pytest.raises(ValueError, match="finite"):
        online.update(np.array([1.0, np.nan, 0.0, 0.0]), "a", 1.0)
    with pytest.raises(ValueError, match="finite"):
        online.update(np.ones(4), "a", np.inf)
    with pytest.raises(ValueError, match=r"shape \(n_rows, 4\)"):
        online.update(np.ones(5), "a", 1.0)
    assert online.statistics.equals(before)
    np.testing.assert_array_equal(online.coef, coef)
    with pytest.raises(ValueError, match="alpha > 0"):
        RankOneRidge.from_statistics(stats, 0.0)


def _world(n: int, d: int = 8) -> tuple[list[str], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(n, d))
    scores = np.stack([x[:, 0] > 0, x[:, 1] > 0, x[:, 2] > 0], axis=1).astype(float)
    return [f"prompt {i}" for i in range(n)], x, scores


def test_router_feedback_events_equal_a_fresh_fit() -> None:
    prompts, x, scores = _world(120)
    featurizer = PrecomputedFeaturizer(prompts, x)
    seed, events = range(30), range(30, 120)
    router = IR3DERouter(featurizer, target="quality", alpha=2.0)  # type: ignore[arg-type]
    router.fit([prompts[i] for i in seed], scores[list(seed)], experts=EXPERTS)
    fitted_statistics = router.statistics_
    rows = []
    for i in events:  # one observed score per event, as production feedback arrives
        j = i % 3
        router.partial_fit([prompts[i]], [{EXPERTS[j]: scores[i, j]}])
        rows.append({EXPERTS[j]: scores[i, j]})
    fresh = IR3DERouter(featurizer, target="quality", alpha=2.0)  # type: ignore[arg-type]
    fresh.fit(
        prompts,
        [dict(zip(EXPERTS, scores[i], strict=True)) for i in seed] + rows,
    )
    assert router.statistics_.equals(fresh.statistics_, atol=1e-9)
    np.testing.assert_allclose(router.coef_, fresh.coef_, atol=1e-9)
    np.testing.assert_allclose(router.intercept_, fresh.intercept_, atol=1e-9)
    assert router.statistics_ is not fitted_statistics  # the fitted object was copied, not changed
    assert fitted_statistics.weight.tolist() == [30.0, 30.0, 30.0]


def test_router_online_path_follows_alpha_changes() -> None:
    prompts, x, scores = _world(60)
    featurizer = PrecomputedFeaturizer(prompts, x)
    router = IR3DERouter(featurizer, target="quality", alpha=1.0)  # type: ignore[arg-type]
    router.fit(prompts[:40], scores[:40], experts=EXPERTS)
    router.partial_fit([prompts[40]], [{"a": 1.0}])
    router.set_params(alpha=5.0)
    router.partial_fit([prompts[41]], [{"b": 0.0}])
    exact = solve_statistics(router.statistics_, alpha=5.0, intercept="centered")
    np.testing.assert_allclose(router.coef_, exact.coef, atol=1e-9)


def test_router_after_feedback_saves_and_loads_bit_for_bit(
    tmp_path, prompts, quality_scores
) -> None:
    router = IR3DERouter({"kind": "hashing", "n_features": 64}, target="quality")
    router.fit(prompts[:80], quality_scores[:80])
    for prompt, row in zip(prompts[80:90], quality_scores[80:90], strict=True):
        router.partial_fit([prompt], [{"m": row["m"]}])
    loaded = IR3DERouter.load(router.save(tmp_path / "r"))
    assert loaded.statistics_.equals(router.statistics_)
    np.testing.assert_array_equal(loaded.coef_, router.coef_)
    np.testing.assert_array_equal(loaded.intercept_, router.intercept_)
    for model in (router, loaded):  # both keep learning the same way
        model.partial_fit(prompts[90:92], [{"c": 0.5}, {"w": 0.1}])
    np.testing.assert_allclose(loaded.coef_, router.coef_, atol=1e-12)


def test_router_new_expert_in_feedback_takes_the_full_path() -> None:
    prompts, x, scores = _world(50)
    featurizer = PrecomputedFeaturizer(prompts, x)
    router = IR3DERouter(featurizer, target="quality", alpha=1.0)  # type: ignore[arg-type]
    router.fit(prompts[:40], scores[:40, :2], experts=EXPERTS[:2])
    router.partial_fit([prompts[40]], [{"a": 1.0}])
    router.partial_fit(prompts[41:50], [{"c": s} for s in scores[41:50, 2]])
    assert router.experts_ == EXPERTS
    exact = solve_statistics(router.statistics_, alpha=1.0, intercept="centered")
    np.testing.assert_allclose(router.coef_, exact.coef, atol=1e-9)


def test_a_copy_shares_nothing_feedback_changes() -> None:
    prompts, x, scores = _world(50)
    featurizer = PrecomputedFeaturizer(prompts, x)
    router = IR3DERouter(featurizer, target="quality", alpha=1.0)  # type: ignore[arg-type]
    router.fit(prompts[:40], scores[:40], experts=EXPERTS)
    router.partial_fit([prompts[40]], [{"a": 1.0}])  # the in-place path is now active
    twin = copy.copy(router)
    snapshot = twin.statistics_.copy(), twin.coef_.copy()
    router.partial_fit(prompts[41:45], [{"b": 0.0}] * 4)
    assert twin.statistics_.equals(snapshot[0])
    np.testing.assert_array_equal(twin.coef_, snapshot[1])
    twin.partial_fit([prompts[45]], [{"c": 1.0}])
    assert router.statistics_.weight.tolist() == [41.0, 44.0, 40.0]
    assert twin.statistics_.weight.tolist() == [41.0, 40.0, 41.0]


def _quality_router() -> IR3DERouter:
    prompts = [f"math {i} sum" if i % 2 else f"code {i} python" for i in range(60)]
    scores = np.c_[[float(i % 2) for i in range(60)], [float(1 - i % 2) for i in range(60)]]
    stateless = {"kind": "hashing", "n_features": 64, "tfidf": False}
    return IR3DERouter(stateless, target="quality", alpha=1.0).fit(
        prompts, scores, experts=["m", "c"]
    )


def test_a_weighted_event_equals_the_event_repeated() -> None:
    once, twice = _quality_router(), _quality_router()
    once.partial_fit(["math 3 sum"], [{"m": 0.2}], sample_weight=[2.0])
    twice.partial_fit(["math 3 sum", "math 3 sum"], [{"m": 0.2}, {"m": 0.2}])
    np.testing.assert_allclose(once.coef_, twice.coef_, atol=1e-10)
    np.testing.assert_allclose(once.intercept_, twice.intercept_, atol=1e-10)
    assert once.statistics_.weight[0] == twice.statistics_.weight[0]


def test_feature_rows_fold_like_their_prompts() -> None:
    by_prompt, by_rows = _quality_router(), _quality_router()
    prompts = ["math 7 sum", "code 8 python"]
    targets = [{"m": 0.1}, {"c": 0.9, "m": 0.3}]
    by_prompt.partial_fit(prompts, targets, sample_weight=[0.5, 3.0])
    by_rows.partial_fit_features(by_rows.transform(prompts), targets, sample_weight=[0.5, 3.0])
    assert by_prompt.statistics_.equals(by_rows.statistics_, atol=1e-12)
    np.testing.assert_allclose(by_prompt.coef_, by_rows.coef_, atol=1e-12)


def test_bad_weights_and_rows_are_refused_with_the_fix() -> None:
    router = _quality_router()
    with pytest.raises(ValueError, match="positive finite"):
        router.partial_fit(["math"], [{"m": 1.0}], sample_weight=[-1.0])
    with pytest.raises(ValueError, match=r"shape \(n, 64\)"):
        router.partial_fit_features(np.zeros((1, 3)), [{"m": 1.0}])
    domain = IR3DERouter({"kind": "hashing", "n_features": 64, "tfidf": False}).fit(
        ["a b", "c d"] * 10, ["x", "y"] * 10
    )
    with pytest.raises(ValueError, match="quality-mode"):
        domain.partial_fit_features(domain.transform(["a b"]), [{"x": 1.0}])


@pytest.mark.parametrize("batch", [1, 3, 40])
def test_sequential_batches_hold_the_statistics_of_one_row_at_a_time(batch: int) -> None:
    """Replicas fold a shared log in batches of whatever size they read: with ``sequential``
    the sums are those of one call per row, bit for bit (40 rows > d/8 = 8 take the fresh-solve
    branch), and the weights those of the sums."""
    rng = np.random.default_rng(batch)
    one, batched = _quality_router(), _quality_router()
    rows = rng.normal(size=(40, one.statistics_.n_features)) ** 2
    scores = [{"m" if i % 3 else "c": float(rng.uniform())} for i in range(40)]
    weights = rng.uniform(0.5, 2.0, 40)
    for i in range(40):
        one.partial_fit_features(
            rows[i : i + 1], scores[i : i + 1], sample_weight=weights[i : i + 1]
        )
    for s in range(0, 40, batch):
        part = slice(s, s + batch)
        batched.partial_fit_features(
            rows[part], scores[part], sample_weight=weights[part], sequential=True
        )
    left, right = one.statistics_.to_arrays(), batched.statistics_.to_arrays()
    assert left.keys() == right.keys()
    assert all(left[k].tobytes() == right[k].tobytes() for k in left)
    np.testing.assert_allclose(one.coef_, batched.coef_, atol=1e-9)
    in_one_go = _quality_router().partial_fit_features(rows, scores, sample_weight=weights)
    assert in_one_go.statistics_.equals(one.statistics_, atol=1e-9)  # equal, not bit for bit
