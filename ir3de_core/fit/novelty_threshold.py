"""Choosing the novelty above which a prompt goes to the default expert, on training data only.

A novelty threshold τ (`ir3de_core.decide.novelty`) sends a prompt with ν > τ to the best
single expert. Whether that helps depends on how routing fares on prompts unlike the training
data, which ordinary k-fold cross-validation never shows (its held-out prompts come from the
same tasks). So τ is scored on two kinds of held-out prompts, each held-out prompt once in each:

* *in distribution* (k-fold): each fold's prompts, routed by the fit without that fold;
* *from an unseen group* (leave-one-group-out, when groups are known: domain mode with three or
  more domains): each domain's prompts, routed by the fit on the other domains only, whose
  default is the best single expert of those other domains.

Each fit uses the settings cross-validation already chose (α, aggregation, confidence threshold).
τ is the novelty quantile with the highest mean gain over not using novelty, kept only when that
gain is positive (else None), as for the confidence threshold. Folds come from prompt hashes
and leave-one-group-out has no randomness, so the choice is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ir3de_core.decide.policy import RoutingPolicy
from ir3de_core.decide.state import Features, RoutedState
from ir3de_core.decide.tokens import TokenBatch
from ir3de_core.featurizers import Featurizer
from ir3de_core.fit.held_out import HeldOut
from ir3de_core.fit.parts import FitPart, FoldStatistics, ScoreMeans, best_single_expert
from ir3de_core.fit.tuning import TuningResult, representation
from ir3de_core.ridge.combine import total_of
from ir3de_core.ridge.solver import solve_statistics
from ir3de_core.ridge.statistics import SufficientStatistics
from ir3de_core.settings import RouterSettings

__all__ = [
    "NoveltyOutcomes",
    "novelty_outcomes",
    "with_novelty_threshold",
]

_QUANTILES = np.concatenate([np.linspace(0.05, 0.95, 19), [0.975, 0.99]])
MIN_GROUPS = 3
"""Fewest domains for leave-one-group-out (with two, the fit on one domain has no choice)."""


@dataclass(frozen=True, eq=False)
class NoveltyOutcomes:
    """Held-out prompts' novelty and what routing and the default achieved on them.

    Attributes:
        novelty: array of shape (m,), ν under the fit the prompt was held out of.
        routed: array of shape (m,), the routed expert's outcome (NaN: unknown).
        default: array of shape (m,), the default expert's outcome (NaN: unknown).
        unseen: array of shape (m,), whether the prompt's group was left out of the fit.
        cluster: array of shape (m,), the held-out set the prompt came from (a fold, or a
            left-out group): prompts of one set share their fit, so gains are not independent.
    """

    novelty: NDArray[np.float64]
    routed: NDArray[np.float64]
    default: NDArray[np.float64]
    unseen: NDArray[np.bool_]
    cluster: NDArray[np.intp]

    def threshold(self) -> tuple[float | None, list[dict[str, Any]]]:
        """The τ of highest mean gain, kept when that gain exceeds its standard error (None
        otherwise), and ``[{"threshold", "gain", "error"}]`` tried.

        The standard error is clustered by held-out set (`cluster`): one left-out group is one
        draw of "a task the router never saw", however many prompts it has, so a rule that
        helps on one unseen group and hurts on the others is not kept."""
        tried: list[dict[str, Any]] = [{"threshold": None, "gain": 0.0, "error": 0.0}]
        known = np.isfinite(self.novelty)
        if not known.any():
            return None, tried
        chosen, top = None, 0.0
        for t in np.unique(np.quantile(self.novelty[known], _QUANTILES)).tolist():
            gain = np.where(self.novelty > t, self.default, self.routed) - self.routed
            mean, error = _clustered_mean(gain, self.cluster)
            tried.append({"threshold": t, "gain": mean, "error": error})
            if mean > top and mean > error:
                chosen, top = t, mean
        return chosen, tried


def _clustered_mean(values: NDArray[np.float64], cluster: NDArray[np.intp]) -> tuple[float, float]:
    """Mean of the known `values` and its cluster-robust standard error (clusters: `cluster`)."""
    known = ~np.isnan(values)
    m = int(known.sum())
    if m == 0:
        return 0.0, 0.0
    _, which = np.unique(cluster[known], return_inverse=True)
    sums = np.bincount(which, weights=values[known])
    counts = np.bincount(which)
    mean = float(sums.sum() / m)
    c = sums.size
    if c < 2:
        return mean, math.inf
    deviations = sums - counts * mean
    return mean, float(math.sqrt(c / (c - 1) * (deviations**2).sum()) / m)


def novelty_outcomes(
    settings: RouterSettings,
    featurizer: Featurizer,
    part: FitPart,
    representation: str,
    expert_map: Mapping[str, str] | None,
    confidence_threshold: float | None,
) -> NoveltyOutcomes | None:
    """The held-out outcomes τ is chosen on (``.threshold()``: τ, None when the rule does not
    help, and the thresholds tried); None when there is nothing to score or novelty is
    undefined.

    Args:
        settings: the resolved settings cross-validation chose (α, aggregation, temperature).
        featurizer: the fitted featurizer.
        part: the fit's part, with its folds and held-out sample.
        representation: ``"tokens"`` or ``"rows"``, the chosen aggregation's statistics.
        expert_map: domain → expert (domain mode), else None.
        confidence_threshold: the confidence threshold already chosen (None: none).
    """
    held = HeldOut.of(part.sample, settings.cv)
    totals, folds = part.total(representation), part.folds.get(representation, ())
    if not held.prompts or totals is None or not folds:
        return None
    cases: list[tuple[SufficientStatistics, NDArray[np.intp], str | None]] = []
    for f in range(len(folds)):
        others = [s for g, s in enumerate(folds) if g != f and s is not None]
        rows = np.flatnonzero(held.folds == f)
        if others and rows.size:
            cases.append((_sum(others), rows, None))
    if expert_map is not None and held.domains is not None and len(totals.names) >= MIN_GROUPS:
        domains = np.array(held.domains)
        for g in totals.names:
            rows = np.flatnonzero(domains == g)
            if rows.size:
                cases.append((totals.select([n for n in totals.names if n != g]), rows, g))
    parts: list[tuple[NDArray[np.float64], ...]] = []
    features: Features | None = None
    for statistics, rows, left_out in cases:
        state, default = _state(settings, featurizer, statistics, expert_map, part, left_out)
        features = _features(state, held) if features is None else features
        subset = _subset(features, rows)
        one = _case(state, default, held, rows, subset, expert_map, confidence_threshold)
        if one is None:
            return None
        parts.append(
            (*one, np.full(rows.size, left_out is not None), np.full(rows.size, len(parts)))
        )
    if not parts:
        return None
    novelty, routed, fallback, unseen, cluster = (
        np.concatenate(c) for c in zip(*parts, strict=True)
    )
    return NoveltyOutcomes(novelty, routed, fallback, unseen.astype(bool), cluster.astype(np.intp))


def _case(
    state: RoutedState,
    default: str,
    held: HeldOut,
    rows: NDArray[np.intp],
    features: Features,
    expert_map: Mapping[str, str] | None,
    confidence_threshold: float | None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]] | None:
    """(ν, routed outcome, default outcome) of the held-out `rows` under `state`; prompts
    below the confidence threshold go to `default` in both."""
    table = state.score_of(features, novelty=True)
    if table.novelty is None:
        return None
    choices = RoutingPolicy(threshold=confidence_threshold, unsure="flag").choose(table)
    unsure = choices.rule == RoutingPolicy.RULES.index("unsure")
    routed = [
        default if u else table.experts[j]
        for j, u in zip(choices.index.tolist(), unsure.tolist(), strict=True)
    ]
    defaults = [default] * len(routed)
    sub = _held_subset(held, rows)
    return (
        table.novelty,
        sub.outcome(routed, _hits(sub, routed, expert_map)),
        sub.outcome(defaults, _hits(sub, defaults, expert_map)),
    )


def _state(
    settings: RouterSettings,
    featurizer: Featurizer,
    statistics: SufficientStatistics,
    expert_map: Mapping[str, str] | None,
    part: FitPart,
    left_out: str | None,
) -> tuple[RoutedState, str]:
    """The routed state of `statistics`, and its default: the best single expert (of every
    domain's experts, as in deployment) by the scores of the data it holds (without the
    `left_out` domain's)."""
    solution = solve_statistics(
        statistics, alpha=settings.penalty, intercept=settings.intercept,
        balance=settings.balance, normalize=settings.normalizes,
    )  # fmt: skip
    mapping = None if expert_map is None else {g: expert_map[g] for g in statistics.names}
    means = part.means if left_out is None else _without_domain(part.means, left_out)
    prior = best_single_expert(statistics, mapping, means)
    state = RoutedState(settings, featurizer, statistics, solution, mapping, prior=prior)
    best = means.best_overall() if expert_map is not None else None
    default = best if best is not None and best in set(expert_map.values()) else prior  # type: ignore[union-attr]
    return state, str(default)


def _without_domain(means: ScoreMeans, domain: str) -> ScoreMeans:
    if domain not in means.domains:
        return means
    keep = [i for i, d in enumerate(means.domains) if d != domain]
    return replace(
        means, domains=tuple(means.domains[i] for i in keep),
        sums=means.sums[keep], counts=means.counts[keep],
    )  # fmt: skip


def _sum(parts: list[FoldStatistics]) -> SufficientStatistics:
    total = total_of(parts)
    assert total is not None  # the callers pass at least one part
    return total


def _features(state: RoutedState, held: HeldOut) -> Features:
    """The held-out prompts featurized for `state` (rows the sample kept are reused)."""
    kept = held.features
    if (
        state.token_scorer is None
        and kept is not None
        and kept.shape[1] == state.statistics.n_features
    ):
        return kept
    return state.featurize(held.prompts)


def _subset(features: Features, rows: NDArray[np.intp]) -> Features:
    """The featurized prompts `rows` of a batch (token batches are rebuilt)."""
    if isinstance(features, TokenBatch):
        starts, lengths = features.starts[rows], features.lengths[rows]
        ids = [features.ids[s : s + n] for s, n in zip(starts, lengths, strict=True)]
        return TokenBatch.from_ids(ids)
    return np.asarray(features)[rows]


def _held_subset(held: HeldOut, rows: NDArray[np.intp]) -> HeldOut:
    return replace(
        held, prompts=[held.prompts[i] for i in rows.tolist()], folds=held.folds[rows],
        scores=held.scores[rows], costs=None if held.costs is None else held.costs[rows],
        domains=None if held.domains is None else [held.domains[i] for i in rows.tolist()],
        features=None if held.features is None else held.features[rows],
    )  # fmt: skip


def _hits(
    held: HeldOut, chosen: list[str], expert_map: Mapping[str, str] | None
) -> list[bool] | None:
    """Domain mode without scores: whether each prompt went to its own domain's expert."""
    if held.domains is None or expert_map is None:
        return None
    return [expert_map.get(t) == e for t, e in zip(held.domains, chosen, strict=True)]


def with_novelty_threshold(
    result: TuningResult,
    settings: RouterSettings,
    featurizer: Featurizer,
    part: FitPart,
    expert_map: Mapping[str, str] | None,
) -> TuningResult:
    """`result` with the novelty threshold chosen for its settings (costs weighed in quality
    mode: no per-prompt criterion, no threshold, as for the confidence threshold)."""
    held = HeldOut.of(part.sample, settings.cv)
    if expert_map is None and held.costs is not None:
        return result
    outcomes = novelty_outcomes(
        settings, featurizer, part, representation(result.aggregation), expert_map,
        result.threshold,
    )  # fmt: skip
    chosen, tried = (None, []) if outcomes is None else outcomes.threshold()
    return replace(result, novelty_threshold=chosen, novelty_thresholds=tried)
