"""Cascades: who answers, how many experts are asked, and what it costs."""

from __future__ import annotations

import numpy as np
import pytest

from ir3de_core.decide.cascade import Cascade, cascade_order

COSTS = np.tile([1.0, 2.0, 10.0], (3, 1))
QUALITY = np.array([[0.9, 0.0, 0.0], [0.1, 0.8, 0.0], [0.1, 0.1, 0.1]])


def test_order_is_cheapest_first() -> None:
    assert cascade_order(np.tile([5.0, 1.0, 3.0], (2, 1))) == [1, 2, 0]


def test_predicted_quality_cascade_pays_for_every_expert_asked() -> None:
    result = Cascade(order=[0, 1, 2], threshold=0.5).run(COSTS, quality=QUALITY)
    np.testing.assert_array_equal(result.chosen, [0, 1, 2])
    np.testing.assert_array_equal(result.tried, [1, 2, 3])
    np.testing.assert_allclose(result.cost, [1.0, 3.0, 13.0])
    assert result.average_cost == pytest.approx(17.0 / 3)


def test_callback_cascade_matches_predicted_one() -> None:
    calls: list[tuple[int, int]] = []

    def scorer(i: int, j: int) -> float:
        calls.append((i, j))
        return float(QUALITY[i, j])

    result = Cascade(order=[0, 1, 2], threshold=0.5).run(COSTS, answer_scorer=scorer)
    np.testing.assert_allclose(result.cost, [1.0, 3.0, 13.0])
    assert (2, 2) not in calls  # the last expert's answer is final: never scored


def test_quality_of_accepted_answers() -> None:
    scores = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float)
    result = Cascade(order=[0, 1, 2], threshold=0.5).run(COSTS, quality=QUALITY)
    assert result.quality(scores) == 1.0


def test_needs_exactly_one_scorer() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Cascade(order=[0], threshold=0.5).run(COSTS)
