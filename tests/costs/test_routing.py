"""`CostAwareRouter`: a quality model plus prices, calibrated to a budget."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from ir3de_core.costs import CostAwareRouter


class TableModel:
    """Predicts quality from a lookup table (a stand-in for a fitted quality router)."""

    experts_ = ("cheap", "dear")

    def decision_function(self, X: Sequence[str]) -> np.ndarray:
        return np.array([[0.9, 1.0] if "easy" in p else [0.2, 0.9] for p in X])


PROMPTS = ["easy one", "hard one", "easy two", "hard two"]
COSTS = np.tile([1.0, 10.0], (4, 1))


def test_lambda_zero_routes_to_best() -> None:
    assert CostAwareRouter(TableModel()).route(PROMPTS, COSTS) == ["dear"] * 4


def test_calibrated_budget_sends_easy_prompts_to_cheap() -> None:
    router = CostAwareRouter(TableModel())
    point = router.calibrate(PROMPTS, budget=5.5, costs=COSTS)
    assert point.cost <= 5.5
    assert router.lam > 0
    assert router.route(PROMPTS, COSTS) == ["cheap", "dear", "cheap", "dear"]


def test_prices_give_costs_from_prompt_length() -> None:
    router = CostAwareRouter(TableModel(), prices={"cheap": 1.0, "dear": 10.0})
    costs = router.costs(["abcd" * 1000])
    np.testing.assert_allclose(costs, [[1.0, 10.0]])
    with pytest.raises(ValueError, match="no costs"):
        CostAwareRouter(TableModel()).costs(PROMPTS)


def test_threshold_with_default_expert() -> None:
    scores = np.array([[1.0, 1.0], [0.0, 1.0], [1.0, 1.0], [0.0, 1.0]])
    router = CostAwareRouter(TableModel(), default="dear")
    point = router.calibrate(PROMPTS, budget=1.0, costs=COSTS, scores=scores)
    assert point.cost <= 1.0  # only the cheap expert fits this budget
    with pytest.raises(ValueError, match="not one of"):
        CostAwareRouter(TableModel(), default="nobody").route(PROMPTS, COSTS)
