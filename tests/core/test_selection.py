"""The selection rule: routing replaces "no signal" only by more than one standard error of its
paired per-prompt gain, and the α grid goes on upwards while its best α is its largest."""

from __future__ import annotations

import math
from unittest.mock import patch

import numpy as np
import pytest

from ir3de_core import IR3DERouter
from ir3de_core.fit import cross_validation, tuning
from ir3de_core.fit.held_out import HeldOut
from ir3de_core.fit.selection import Scored, best_at_top, choose

HASHING = {"kind": "hashing", "n_features": 256, "tfidf": False}
NARROW = np.array([-4.0, -3.5])
"""A base grid far below the useful α: only the extension above its edge can reach it."""


def _held(n: int, folds: int = 5) -> HeldOut:
    return HeldOut([f"p{i}" for i in range(n)], np.arange(n) % folds, (), np.empty((n, 0)),
                   None, None)  # fmt: skip


def _candidates(gain: float, seed: int = 0, n: int = 500) -> list[Scored]:
    """No signal, and two routing α whose paired gain over it has mean ≈ `gain`, SD 0.1."""
    rng = np.random.default_rng(seed)
    none = rng.random(n)
    noise = rng.normal(0.0, 0.1, n)
    routed = none + gain + noise - noise.mean()  # mean gain exactly `gain`
    worse = none + gain / 2
    return [
        Scored("pooled", 1.0, float(worse.mean()), 0.1, None, worse),
        Scored("pooled", 10.0, float(routed.mean()), 0.1, None, routed),
        Scored("pooled", math.inf, float(none.mean()), 0.2, None, none),
    ]


def test_routing_that_beats_no_signal_by_more_than_one_se_is_chosen() -> None:
    scored = _candidates(0.03)  # SE ≈ 0.1 / √500 ≈ 0.0045: a gain of 6–7 standard errors
    best, se, fold_gains = choose(scored, _held(500), domain_mode=False)
    assert best.alpha == 10.0
    assert se == pytest.approx(0.1 / math.sqrt(500), rel=0.1)
    gains = scored[1].outcome - scored[2].outcome
    assert fold_gains == pytest.approx([gains[f::5].mean() for f in range(5)])


def test_routing_that_beats_no_signal_by_less_than_one_se_is_not() -> None:
    scored = _candidates(0.003)  # above no signal on the folds, but by ≈ 0.7 SE
    assert scored[1].score > scored[2].score
    best, se, _ = choose(scored, _held(500), domain_mode=False)
    assert se is not None and se > 0.003
    assert best.alpha == math.inf


def test_best_at_top_names_the_largest_alpha_only_when_it_scores_best() -> None:
    scored = _candidates(0.03)
    assert best_at_top(scored, domain_mode=False) == 10.0
    assert best_at_top([*scored[::-1][:2], scored[0]], domain_mode=False) == 10.0
    flipped = [scored[1], Scored("pooled", 100.0, scored[0].score, 0.1, None, scored[0].outcome)]
    assert best_at_top(flipped, domain_mode=False) is None


def _noisy_scores(domains: list[str], seed: int) -> list[dict[str, float]]:
    """Each expert slightly better on its own domain (0.6 vs 0.4), under noise of SD 0.1."""
    experts = {"math": "m", "code": "c", "multilingual": "l", "writing": "w"}
    rng = np.random.default_rng(seed)
    return [
        {e: (0.6 if experts[d] == e else 0.4) + 0.1 * rng.normal() for e in experts.values()}
        for d in domains
    ]


def _fit(prompts: list[str], scores: list[dict[str, float]], extensions: int) -> IR3DERouter:
    with (
        patch.object(tuning, "GRID_EXPONENTS", NARROW),
        patch.object(cross_validation, "EDGE_EXTENSIONS", extensions),
    ):
        return IR3DERouter(HASHING, target="quality").fit(prompts, scores)


def test_the_grid_extended_past_its_edge_finds_routing_that_the_edge_missed(
    prompts, domains
) -> None:
    scores = _noisy_scores(domains, seed=0)
    before = _fit(prompts, scores, extensions=0)
    after = _fit(prompts, scores, extensions=3)
    assert before.alpha_ == math.inf, before.cv_results_  # its α all overfit: no signal wins
    results = after.cv_results_
    assert results is not None
    top = max(c["alpha"] for c in (before.cv_results_ or {})["candidates"] if c["alpha"] < math.inf)
    assert after.alpha_ > 100 * top  # found two decades or more above the base grid
    none = next(c for c in results["candidates"] if c["alpha"] == math.inf)
    chosen = next(c for c in results["candidates"] if c["alpha"] == after.alpha_)
    assert chosen["score"] - none["score"] > results["standard_error"]
    assert sum(c["alpha"] < math.inf for c in results["candidates"]) == 2 + 3 * 2


def test_the_extended_grid_still_chooses_no_signal_on_random_targets(prompts) -> None:
    rng = np.random.default_rng(3)
    scores = [{e: float(rng.random() < 0.5) for e in "ABC"} for _ in prompts]
    router = _fit(prompts, scores, extensions=3)
    assert router.alpha_ == math.inf, router.cv_results_


def test_the_selection_is_reproducible(prompts, domains) -> None:
    scores = _noisy_scores(domains, seed=0)
    np.random.seed(1)  # noqa: NPY002 - folds come from prompt hashes, not global random state
    first = _fit(prompts, scores, 3)
    np.random.seed(2)  # noqa: NPY002
    second = _fit(prompts, scores, 3)
    assert first.cv_results_ == second.cv_results_
    assert first.alpha_ == second.alpha_ and math.isfinite(first.alpha_)
    other = _fit(prompts, _noisy_scores(domains, seed=1), 3).cv_results_
    assert other is not None and other != first.cv_results_  # the seed of the data matters
