"""Changing a fitted router without refitting: each function returns a new `RoutedState`.

More data, a new expert or domain, one fewer, or a feedback event: the statistics change by a
sum or a difference and the solution is solved again from them (or, for feedback in quality mode,
updated by rank-one steps). The router publishes the returned state in one assignment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ir3de_core.decide.novelty import MAX_NOVELTY_FEATURES
from ir3de_core.decide.state import RoutedState
from ir3de_core.decide.uncertainty import MAX_EXPLORE_FEATURES, keep_block_inverse
from ir3de_core.exceptions import ExpertError
from ir3de_core.fit.parts import best_single_expert
from ir3de_core.fit.spec import FitSpec
from ir3de_core.fit.targets import score_matrix
from ir3de_core.ridge.online import RankOneRidge
from ir3de_core.ridge.solver import RidgeSolution
from ir3de_core.ridge.statistics import SufficientStatistics

__all__ = [
    "fold_feedback",
    "updates_online",
    "with_alpha",
    "with_expert",
    "with_statistics",
    "without_expert",
]


def with_statistics(
    state: RoutedState, spec: FitSpec, statistics: SufficientStatistics
) -> RoutedState:
    """The state fitted on its data plus `statistics` (new domains go to the expert that the
    ``expert_map`` setting names, else to themselves)."""
    stats = state.statistics + statistics
    mapping = None
    if state.expert_map is not None:
        mapping = {**spec.new_domains(stats.names), **state.expert_map}
    return _resolved(state, spec, stats, mapping)


def with_expert(
    state: RoutedState,
    spec: FitSpec,
    name: str,
    prompts: Sequence[str],
    y: Any = None,
    expert: str | None = None,
) -> RoutedState:
    """The state with one more expert (quality mode, scores `y` on `prompts`) or domain
    (domain mode, routed to `expert`, default `name`), from that data alone."""
    if state.expert_map is not None:
        names, targets = spec.targets(prompts, [name] * len(prompts))
    elif y is None:
        msg = "quality mode needs the new expert's scores: add_expert(name, prompts, scores)"
        raise ValueError(msg)
    else:
        names, targets = score_matrix(
            np.asarray(y, dtype=np.float64), len(prompts), [name],
            missing=spec.settings.missing_scores,
        )  # fmt: skip
    stats = state.statistics.add_expert(spec.statistics(prompts, targets, names))
    mapping = None if state.expert_map is None else {**state.expert_map, name: expert or name}
    return _resolved(state, spec, stats, mapping)


def without_expert(state: RoutedState, spec: FitSpec, name: str) -> RoutedState:
    """The state without an expert (and every domain routed to it), or without one domain."""
    mapping = state.expert_map
    if name in state.statistics.names:
        groups = [name]
    elif mapping is not None:
        groups = [g for g, e in mapping.items() if e == name]
    else:
        groups = []
    if not groups:
        msg = f"unknown expert {name!r}; known experts: {list(state.experts)}"
        raise ExpertError(msg)
    stats = state.statistics
    for group in groups:
        stats = stats.remove_expert(group)
    if not stats.names:
        msg = f"removing {name!r} would leave the router with no experts"
        raise ExpertError(msg)
    if mapping is not None:
        mapping = {g: e for g, e in mapping.items() if g not in groups}
    return _resolved(state, spec, stats, mapping)


def updates_online(spec: FitSpec, state: RoutedState, names: Sequence[str]) -> bool:
    """Whether rows for `names` can be folded in by rank-one steps: quality mode on row
    features, centred intercept, no column normalisation, α > 0, the same experts."""
    settings = spec.settings
    return (
        settings.target == "quality"
        and not spec.uses_tokens
        and settings.intercept == "centered"
        and not settings.normalizes
        and settings.penalty > 0
        and tuple(names) == state.statistics.names
    )


def fold_feedback(
    state: RoutedState,
    spec: FitSpec,
    online: RankOneRidge | None,
    features: NDArray[np.float64],
    targets: NDArray[np.float64],
    weights: NDArray[np.float64] | None = None,
    *,
    sequential: bool = False,
) -> tuple[RoutedState, RankOneRidge]:
    """Fold scored rows into the sums and the weights by rank-one steps (see `updates_online`).

    Args:
        features: array of shape (n, d), the prompts' feature rows.
        targets: array of shape (n, k), NaN where an expert is not scored.
        weights: array of shape (n,), positive (default 1).
        sequential: sums bit for bit those of n folds of one row each (`RankOneRidge.add_rows`).

    `online` is the updater of earlier events (None, or one for another α, starts a new one from
    a copy of the statistics). Its sums are updated in place and shared by the returned state;
    the weights are fresh arrays, so a state published earlier never changes.
    """
    if online is None or online.alpha != spec.settings.penalty:
        online = RankOneRidge.from_statistics(state.statistics, spec.settings.penalty)
    before = {id(block) for block in state.statistics.blocks}
    online.add_rows(features, targets, sample_weight=weights, sequential=sequential)
    solution = RidgeSolution(online.coef.copy(), online.intercept.copy())
    stats = online.statistics
    _keep_inverses(stats, online, before)
    new = state.replace(
        settings=spec.settings,
        statistics=stats,
        solution=solution,
        prior=best_single_expert(stats, None),
    )
    return new, online


def _keep_inverses(stats: SufficientStatistics, online: RankOneRidge, before: set[int]) -> None:
    """Give each design block the fold made its inverse (a copy: the updater's changes in place),
    so novelty and exploration's spread need no new decomposition (`keep_block_inverse`)."""
    if stats.n_features > max(MAX_NOVELTY_FEATURES, MAX_EXPLORE_FEATURES):
        return
    kept: set[int] = set()
    for j, b in enumerate(stats.block.tolist()):
        block = stats.blocks[b] if b >= 0 else None
        if block is None or id(block) in before or b in kept:
            continue
        inverse = online.kept_inverse(j)
        if inverse is not None:
            keep_block_inverse(block, online.alpha, inverse.copy())
            kept.add(b)


def with_alpha(state: RoutedState, alpha: float) -> tuple[RoutedState, RankOneRidge]:
    """The quality-mode state re-solved with another α (``inf``: no prompt signal), and a
    rank-one updater for it (the statistics are shared, as `fold_feedback` leaves them)."""
    online = RankOneRidge.from_statistics(state.statistics, alpha)
    settings = replace(state.settings, alpha=float(alpha))
    solution = RidgeSolution(online.coef.copy(), online.intercept.copy())
    return state.replace(settings=settings, solution=solution), online


def _resolved(
    state: RoutedState,
    spec: FitSpec,
    stats: SufficientStatistics,
    mapping: Mapping[str, str] | None,
) -> RoutedState:
    """Solve updated statistics, keeping the policy (and the prior while it stays valid)."""
    prior = state.prior if mapping is not None else None
    return spec.solve_statistics(stats, mapping, policy=state.policy, prior=prior)
