"""AIQ, APGR and CPT on examples computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from ir3de_core.decide.metrics import aiq, apgr, cost_to_reach, cpt, quality_hull

# (3, 0.7) is dominated and (3, 0.84) lies below the hull segment (2, 0.8)–(4, 0.9).
COSTS = [1.0, 2.0, 3.0, 4.0, 3.0]
QUALITY = [0.5, 0.8, 0.7, 0.9, 0.84]


def test_hull_drops_dominated_and_non_concave_points() -> None:
    c, q = quality_hull(COSTS, QUALITY)
    np.testing.assert_allclose(c, [1, 2, 4])
    np.testing.assert_allclose(q, [0.5, 0.8, 0.9])


def test_aiq_own_range() -> None:
    # (0.5 + 0.8) / 2 · 1 + (0.8 + 0.9) / 2 · 2 = 2.35 over a range of 3
    assert aiq(COSTS, QUALITY) == pytest.approx(2.35 / 3)


def test_aiq_common_range_counts_zero_below_and_best_above() -> None:
    assert aiq(COSTS, QUALITY, cost_range=(0.0, 4.0)) == pytest.approx(2.35 / 4)
    assert aiq(COSTS, QUALITY, cost_range=(1.0, 5.0)) == pytest.approx((2.35 + 0.9) / 4)


def test_cost_to_reach() -> None:
    assert cost_to_reach(COSTS, QUALITY, 0.85) == pytest.approx(3.0)
    assert cost_to_reach(COSTS, QUALITY, 0.4) == pytest.approx(1.0)
    assert cost_to_reach(COSTS, QUALITY, 0.95) is None


STRONG = [1.0, 1.0, 0.0, 1.0]
WEAK = [0.0, 1.0, 0.0, 0.0]
PREFERENCE = [3.0, 0.0, 1.0, 2.0]  # strong calls go to queries 0, 3, 2, 1 in that order


def test_apgr_by_hand() -> None:
    # PGR at shares 0, 1/4, 1/2, 3/4, 1: 0, 0.5, 1, 1, 1 → area 0.0625 + 0.1875 + 0.5
    assert apgr(PREFERENCE, STRONG, WEAK) == pytest.approx(0.75, abs=1e-6)


def test_cpt_by_hand() -> None:
    assert cpt(PREFERENCE, STRONG, WEAK, 0.5) == pytest.approx(0.25, abs=1e-3)
    assert cpt(PREFERENCE, STRONG, WEAK, 0.8) == pytest.approx(0.40, abs=1e-3)


def test_random_preference_apgr_near_half() -> None:
    rng = np.random.default_rng(0)
    strong, weak = rng.random(4000) < 0.8, rng.random(4000) < 0.5
    assert apgr(rng.random(4000), strong, weak) == pytest.approx(0.5, abs=0.05)


def test_weak_better_than_strong_is_an_error() -> None:
    with pytest.raises(ValueError, match="not better"):
        apgr(PREFERENCE, WEAK, STRONG)
