"""Calibrating a policy (λ for a budget, a default threshold) on hand-made matrices."""

from __future__ import annotations

import numpy as np
import pytest

from ir3de_core.decide.calibration import calibrate_budget, calibrate_threshold, choose, lambda_path

# 4 queries, 3 experts: cheap, mid, dear.
QUALITY = np.array(
    [
        [0.9, 0.9, 1.0],
        [0.2, 0.8, 0.9],
        [0.1, 0.3, 0.9],
        [0.5, 0.6, 0.7],
    ]
)
COSTS = np.tile([1.0, 2.0, 10.0], (4, 1))


def test_lambda_zero_is_argmax() -> None:
    rng = np.random.default_rng(0)
    q, c = rng.random((50, 5)), rng.random((50, 5))
    np.testing.assert_array_equal(choose(q, c, 0.0), q.argmax(axis=1))
    np.testing.assert_array_equal(choose(q), q.argmax(axis=1))


def test_large_lambda_picks_cheapest() -> None:
    np.testing.assert_array_equal(choose(QUALITY, COSTS, 1e6), [0, 0, 0, 0])


def test_per_expert_costs_broadcast() -> None:
    np.testing.assert_array_equal(choose(QUALITY, [1.0, 2.0, 10.0], 0.05), [0, 1, 2, 1])


def test_bisection_meets_budget_with_smallest_lambda() -> None:
    for budget in (1.0, 2.5, 4.0, 6.0, 10.0):
        point = calibrate_budget(QUALITY, COSTS, budget)
        assert point.feasible
        assert point.cost <= budget + 1e-12
        if point.lam > 0:  # a slightly smaller λ would overspend
            picked = choose(QUALITY, COSTS, point.lam * 0.99)
            assert COSTS[np.arange(4), picked].mean() > budget


def test_budget_above_argmax_cost_keeps_argmax() -> None:
    point = calibrate_budget(QUALITY, COSTS, 100.0, experts=["a", "b", "c"])
    assert point.lam == 0.0
    assert point.shares == {"c": 1.0}


def test_infeasible_budget_warns_and_routes_cheapest() -> None:
    with pytest.warns(RuntimeWarning, match="below the cheapest"):
        point = calibrate_budget(QUALITY, COSTS, 0.5)
    assert not point.feasible
    assert point.cost == 1.0


def test_realised_quality_reported_with_scores() -> None:
    scores = np.array([[1, 1, 1], [0, 1, 1], [0, 0, 1], [1, 0, 0]], dtype=float)
    point = calibrate_budget(QUALITY, COSTS, 4.0, scores=scores)
    assert point.quality is not None
    assert 0.0 <= point.quality <= 1.0


def test_calibrated_threshold_respects_budget() -> None:
    scores = np.array([[1, 1, 1], [0, 1, 1], [0, 0, 1], [1, 0, 0]], dtype=float)
    point = calibrate_threshold(
        QUALITY, COSTS, scores, "dear", ["cheap", "mid", "dear"], budget=5.0, lam=1.0
    )
    # λ = 1 sends every query to the cheap expert (predicted 0.9, 0.2, 0.1, 0.5); deferring
    # the two least confident would cost 5.5, so only the third (0.1) goes to the default.
    assert point.threshold == pytest.approx(0.2)
    assert point.cost == pytest.approx(3.25)
    assert point.quality == pytest.approx(0.75)


def test_lambda_path_costs_do_not_increase() -> None:
    path = lambda_path(QUALITY, COSTS, n_points=15)
    costs = [p.cost for p in path]
    assert (np.diff(costs) <= 1e-12).all()
    assert path[0].lam == 0.0


def test_nan_quality_is_rejected() -> None:
    with pytest.raises(ValueError, match="NaN"):
        choose(np.array([[np.nan, 1.0]]))


def test_threshold_needs_a_known_default() -> None:
    scores = np.ones_like(QUALITY)
    with pytest.raises(ValueError, match="not one of"):
        calibrate_threshold(QUALITY, COSTS, scores, "nobody", ["cheap", "mid", "dear"])
