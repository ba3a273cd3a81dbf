"""Feedback revisits the fit's α: a seed fit's "no signal" is not kept forever."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from ir3de_core import IR3DERouter
from ir3de_core.fit.online_alpha import MIN_EVENTS, FeedbackSample, choose_alpha
from ir3de_core.ridge.statistics import SufficientStatistics
from tests.learn.conftest import EXPERTS, make_prompts


def noise_seeded(alpha: float | str = "auto") -> IR3DERouter:
    """A router fitted on 30 prompts whose scores are pure noise: no prompt signal."""
    prompts, _ = make_prompts(30, seed=11)
    noise = np.random.default_rng(3).random((30, 3))
    router = IR3DERouter(
        {"kind": "hashing", "n_features": 64}, target="quality", alpha=alpha, safe_default=False
    )
    return router.fit(prompts, [dict(zip(EXPERTS, row, strict=True)) for row in noise])


def fold_feedback(router: IR3DERouter, n: int) -> None:
    """n events of topic-dependent scores, one expert scored per event (in turn)."""
    prompts, scores = make_prompts(n, seed=12)
    for i, prompt in enumerate(prompts):
        router.partial_fit([prompt], [{EXPERTS[i % 3]: float(scores[i, i % 3])}])


def topic_accuracy(router: IR3DERouter) -> float:
    prompts, scores = make_prompts(150, seed=13)
    best = np.array(EXPERTS)[scores.argmax(axis=1)]
    return float((router.predict(prompts) == best).mean())


def test_feedback_brings_a_no_signal_seed_to_route_on_the_prompt() -> None:
    router = noise_seeded()
    assert router.alpha_ == math.inf
    fold_feedback(router, 300)
    assert math.isfinite(router.alpha_)
    assert topic_accuracy(router) > 0.9  # was 1/3 with the seed's no signal kept


def test_no_choice_before_enough_events_and_none_for_a_set_alpha() -> None:
    router = noise_seeded()
    fold_feedback(router, MIN_EVENTS - 1)
    assert router.alpha_ == math.inf
    fixed = noise_seeded(alpha=math.inf)
    fold_feedback(fixed, 300)
    assert fixed.alpha_ == math.inf  # the user's α is never replaced
    assert topic_accuracy(fixed) < 0.5


def test_a_copy_keeps_its_own_feedback_rows() -> None:
    router = noise_seeded()
    fold_feedback(router, 60)
    twin = copy.copy(router)
    fold_feedback(twin, 300)
    assert router._feedback is not None and router._feedback.seen == 60
    assert math.isfinite(twin.alpha_) and router.alpha_ == math.inf
    router.fit(*_seed_data())  # a refit starts the sample again
    assert router._feedback is None


def _seed_data() -> tuple[list[str], list[dict[str, float]]]:
    prompts, scores = make_prompts(30, seed=14)
    return prompts, [dict(zip(EXPERTS, row, strict=True)) for row in scores]


def test_choose_alpha_prefers_no_signal_on_noise_and_a_penalty_on_signal() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 5))
    signal = np.column_stack([X[:, 0], -X[:, 0]]) + 0.1 * rng.standard_normal((400, 2))
    for y, expect_signal in ((signal, True), (rng.standard_normal((400, 2)), False)):
        y = y.copy()
        y[np.arange(400) % 2 == 0, 0] = np.nan  # each row scores one expert
        y[np.arange(400) % 2 == 1, 1] = np.nan
        stats = SufficientStatistics.from_rows(X, y, ("a", "b"), design="per_group")
        sample = FeedbackSample(0, 5, 2, capacity=1000)
        sample.add(X, y)
        alpha, errors = choose_alpha(stats, sample, [0.1, 1.0, 10.0, 100.0])
        assert len(errors) == 5
        assert math.isfinite(alpha) == expect_signal
        assert errors[alpha] == min(errors.values())


def test_the_sample_is_bounded_seeded_and_doubles_its_schedule() -> None:
    rows = np.arange(500.0)[:, None] * np.ones((1, 3))
    targets = np.ones((500, 2))
    a, b = FeedbackSample(150, 3, 2, capacity=50), FeedbackSample(150, 3, 2, capacity=50)
    a.add(rows, targets)
    b.add(rows, targets)
    assert a.size == 50 and a.seen == 500
    np.testing.assert_array_equal(a.features, b.features)
    assert a.features[:, 0].max() > 100  # later rows replace earlier ones
    assert a.due and a.next_choice == 150
    a.chosen()
    assert a.next_choice == 2 * 500 + 150 and not a.due


def test_one_call_or_one_event_at_a_time_make_the_same_choices() -> None:
    prompts, scores = make_prompts(300, seed=12)
    labels = [{EXPERTS[i % 3]: float(scores[i, i % 3])} for i in range(300)]
    single, batch = noise_seeded(), noise_seeded()
    for prompt, label in zip(prompts, labels, strict=True):
        single.partial_fit([prompt], [label])
    batch.partial_fit(prompts[:150], labels[:150])
    batch.partial_fit(prompts[150:], labels[150:])
    # the same grid point (the grid follows the sums, whose rounding depends on the batching)
    assert math.isfinite(batch.alpha_) and batch.alpha_ == pytest.approx(single.alpha_, rel=1e-12)
    np.testing.assert_allclose(batch.coef_, single.coef_, rtol=1e-6, atol=1e-9)
