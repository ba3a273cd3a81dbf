"""The selection benchmark's rules, read from a constructed ``cv_results_``."""

from __future__ import annotations

import math

from benchmarks.selection import rule_alpha


def _results(gain: float, se: float, fold_gains: list[float]) -> dict[str, object]:
    return {
        "candidates": [
            {"aggregation": "pooled", "alpha": 1.0, "score": 0.50, "error": 0.1},
            {"aggregation": "pooled", "alpha": 10.0, "score": 0.50 + gain, "error": 0.1},
            {"aggregation": "pooled", "alpha": math.inf, "score": 0.50, "error": 0.2},
        ],
        "standard_error": se,
        "fold_gains": fold_gains,
    }


def test_each_rule_routes_only_above_its_margin() -> None:
    results = _results(0.006, 0.01, [0.006, 0.0061, 0.0059, 0.006, 0.006])  # 0.6 SE; folds agree
    assert rule_alpha(results, "one SE (before)") == math.inf
    assert rule_alpha(results, "half SE") == 10.0
    assert rule_alpha(results, "argmax") == 10.0
    assert rule_alpha(results, "per-fold SE") == 10.0  # the per-fold SE is tiny here
    noisy = _results(0.006, 0.01, [0.05, -0.04, 0.03, -0.02, 0.01])
    assert rule_alpha(noisy, "per-fold SE") == math.inf
    assert rule_alpha(_results(-0.001, 0.01, [0.0] * 5), "argmax") == math.inf
