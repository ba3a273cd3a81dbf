"""The cross-validated choice of a fit's ``"auto"`` settings (see `ir3de_core.fit.tuning`).

`cross_validate` takes the per-fold statistics and the held-out sample of a `FitPart`, scores
every candidate (aggregation × α, and "no prompt signal") on the held-out prompts, then, for the
chosen one, a confidence threshold below which prompts go to the safe default.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ir3de_core.decide.confidence import fit_temperature
from ir3de_core.decide.state import Features, RoutedState
from ir3de_core.featurizers import Featurizer
from ir3de_core.fit.fold_paths import fold_projections, fold_solutions, unsolved
from ir3de_core.fit.held_out import (
    FoldRows,
    FoldRun,
    HeldOut,
    candidate_score,
    fold_features,
    held_out_decisions,
    hits,
)
from ir3de_core.fit.parts import FitPart, best_single_expert
from ir3de_core.fit.selection import Scored, best_at_top, choose, drop_dominated_runs, per_prompt
from ir3de_core.fit.tuning import TuningResult, aggregations, alpha_grid, representation
from ir3de_core.ridge.projected import ProjectedPath
from ir3de_core.ridge.statistics import SufficientStatistics
from ir3de_core.settings import Aggregation, RouterSettings

__all__ = ["cross_validate"]

_QUANTILES = np.linspace(0.05, 0.95, 19)


def cross_validate(
    settings: RouterSettings,
    featurizer: Featurizer,
    part: FitPart,
    expert_map: Mapping[str, str] | None,
) -> tuple[TuningResult, SufficientStatistics]:
    """Choose α, the aggregation and a safe-default threshold on the part's folds.

    Returns:
        what was chosen (and every candidate's score), and the statistics of all the data in
        the chosen representation (the refit).

    Raises:
        ValueError: the part holds no fold statistics or no held-out prompts.
    """
    k = settings.cv
    held = HeldOut.of(part.sample, k)
    if not held.prompts:
        msg = "no held-out prompts to choose the settings on; fit on more data"
        raise ValueError(msg)
    scored: list[Scored] = []
    shared = _Shared(part)
    tried = aggregations(settings, featurizer)
    for rep in dict.fromkeys(representation(a) for a in tried):
        ways = [a for a in tried if representation(a) == rep]
        scored += _grid(settings, featurizer, shared, rep, ways, held, expert_map)
    scored.sort(key=lambda s: tried.index(s.aggregation))  # grid order: aggregation, then α
    drop_dominated_runs(scored)
    domain_mode = expert_map is not None
    if settings.alpha == "auto":
        scored.append(_no_signal(settings, featurizer, shared, scored[0], held, expert_map))
    best, standard_error, fold_gains = choose(scored, held, domain_mode)
    temperature = None
    if settings.confidence_temperature == "auto" and best.alpha != math.inf:
        temperature, best = _calibrated(best, held, expert_map)
    threshold: float | None = None
    thresholds: list[dict[str, Any]] = []
    if settings.safe_default and best.alpha != math.inf and per_prompt(held, domain_mode):
        threshold, thresholds = _threshold(best, held, expert_map)
    result = TuningResult(
        alpha=best.alpha, aggregation=best.aggregation, threshold=threshold,
        criterion=_criterion(held, domain_mode), folds=k, n_held_out=len(held.prompts),
        standard_error=standard_error, fold_gains=fold_gains, temperature=temperature,
        candidates=[
            {"aggregation": s.aggregation, "alpha": s.alpha, "score": s.score, "error": s.error}
            for s in scored
        ],
        thresholds=thresholds,
    )  # fmt: skip
    return result, shared.total(representation(best.aggregation))


@dataclass(eq=False)
class _Shared:
    """What one `cross_validate` computes once for all its candidates: each representation's
    total (a sum over the folds: k × d cross-products), and for rows each fold's statistics
    without it and its α-independent projection (`ProjectedPath.along` scores any α from it)."""

    part: FitPart
    totals: dict[str, SufficientStatistics] = field(default_factory=dict)
    rows: list[tuple[SufficientStatistics, ProjectedPath | None]] | None = None

    def total(self, rep: str) -> SufficientStatistics:
        """The statistics of every fold of `rep` together."""
        if rep not in self.totals:
            total = self.part.total(rep)
            if total is None:
                msg = f"the part holds no {rep!r} statistics to fit on"
                raise ValueError(msg)
            self.totals[rep] = total
        return self.totals[rep]


def _grid(
    settings: RouterSettings,
    featurizer: Featurizer,
    shared: _Shared,
    rep: str,
    ways: list[Aggregation],
    held: HeldOut,
    expert_map: Mapping[str, str] | None,
) -> list[Scored]:
    """Every α of the aggregations `ways` of one representation, scored on the held-out
    prompts; while the best routing α is the grid's largest, the grid goes on upwards by
    `EDGE_STEPS` (at most `EDGE_EXTENSIONS` times): an optimum at the edge is not one."""
    alphas = alpha_grid(shared.total(rep), settings)
    out = _scored_alphas(settings, featurizer, shared, rep, ways, alphas, held, expert_map)
    for _ in range(EDGE_EXTENSIONS if settings.alpha == "auto" else 0):
        top = best_at_top(out, expert_map is not None)
        if top is None:
            break
        more = [float(top * 10.0**e) for e in EDGE_STEPS]
        out += _scored_alphas(settings, featurizer, shared, rep, ways, more, held, expert_map)
        drop_dominated_runs(out)
    return out


EDGE_STEPS = (0.5, 1.0)
"""Exponents (base 10) of the α tried above the largest one when it scores best."""
EDGE_EXTENSIONS = 0
"""At most this many extensions: the grid's top goes up by at most 10³."""


def _scored_alphas(
    settings: RouterSettings,
    featurizer: Featurizer,
    shared: _Shared,
    rep: str,
    ways: list[Aggregation],
    alphas: list[float],
    held: HeldOut,
    expert_map: Mapping[str, str] | None,
) -> list[Scored]:
    """The candidates `ways` × `alphas` scored: one solve per fold and α serves every
    aggregation (vote and average share token scores)."""
    if rep == "rows":
        return _rows_grid(settings, featurizer, shared, ways[-1], alphas, held, expert_map)
    part = shared.part
    per_fold = fold_solutions(shared.total(rep), part.folds[rep], alphas, settings)
    features: list[Features | None] | None = None
    out = []
    for i, alpha in enumerate(alphas):
        states = [
            _state(settings, featurizer, ways[-1], alpha, train, solutions[i], expert_map, part)
            for train, solutions in per_fold
        ]
        if features is None:
            features = fold_features(states[0], held, settings.cv)
        for aggregation in ways:
            run = held_out_decisions(states, held, features, aggregation)
            score, error, outcome = candidate_score(run, held, expert_map)
            out.append(Scored(aggregation, alpha, score, error, run, outcome))
            drop_dominated_runs(out)
    return out


def _rows_grid(
    settings: RouterSettings,
    featurizer: Featurizer,
    shared: _Shared,
    aggregation: Aggregation,
    alphas: list[float],
    held: HeldOut,
    expert_map: Mapping[str, str] | None,
) -> list[Scored]:
    """`_grid` for a row per prompt: the held-out scores of every α come from each fold's
    `ProjectedPath`, so no α's d × k weights are ever formed. The folds are projected once
    per fit (the first grid); later α (the grid's extension, α = ∞) reuse the projections."""
    part = shared.part
    if shared.rows is None:
        totals = shared.total("rows")
        template = _state(settings, featurizer, aggregation, alphas[0], totals.without_scatter(),
                          unsolved(totals), expert_map, part)  # fmt: skip
        rows = FoldRows(template, held, settings.cv)  # one fold's rows at a time
        shared.rows = fold_projections(totals, part.folds["rows"], alphas, settings, rows)
    per_fold = [(train, None if p is None else p.along(alphas)) for train, p in shared.rows]
    out = []
    for i, alpha in enumerate(alphas):
        states = [
            _state(settings, featurizer, aggregation, alpha, train, unsolved(train), expert_map,
                   part)
            for train, _ in per_fold
        ]  # fmt: skip
        scores = [None if p is None else p.scores(i) for _, p in per_fold]
        run = held_out_decisions(states, held, scores, scored=True)
        score, error, outcome = candidate_score(run, held, expert_map)
        out.append(Scored(aggregation, alpha, score, error, run, outcome))
        drop_dominated_runs(out)
    return out


def _state(
    settings: RouterSettings,
    featurizer: Featurizer,
    aggregation: Aggregation,
    alpha: float,
    train: SufficientStatistics,
    solution: Any,
    expert_map: Mapping[str, str] | None,
    part: FitPart,
) -> RoutedState:
    resolved = settings.resolved(alpha, aggregation)
    prior = best_single_expert(train, expert_map, part.means)
    return RoutedState(resolved, featurizer, train, solution, expert_map, prior=prior)


def _no_signal(
    settings: RouterSettings,
    featurizer: Featurizer,
    shared: _Shared,
    first: Scored,
    held: HeldOut,
    expert_map: Mapping[str, str] | None,
) -> Scored:
    """Every prompt to the best single expert (α = ∞: the prompt is not looked at)."""
    rep = representation(first.aggregation)
    totals, part = shared.total(rep), shared.part
    if rep == "rows":
        run = _rows_grid(settings, featurizer, shared, first.aggregation, [math.inf], held,
                         expert_map)[0].run  # fmt: skip
        assert run is not None
        run = run.prior_only()
        score, error, outcome = candidate_score(run, held, expert_map)
        return Scored(first.aggregation, math.inf, score, error, run, outcome)
    per_fold = fold_solutions(totals, part.folds[rep], [math.inf], settings)
    states = [
        _state(settings, featurizer, first.aggregation, math.inf, train, solutions[0],
               expert_map, part)
        for train, solutions in per_fold
    ]  # fmt: skip
    features = fold_features(states[0], held, settings.cv)
    run = held_out_decisions(states, held, features)
    run = run.prior_only()
    score, error, outcome = candidate_score(run, held, expert_map)
    return Scored(first.aggregation, math.inf, score, error, run, outcome)


def _calibrated(
    best: Scored, held: HeldOut, expert_map: Mapping[str, str] | None
) -> tuple[float | None, Scored]:
    """The softmax temperature that makes the held-out outcomes likeliest (the true domain's
    expert; in quality mode the observed best expert, shared among ties), and the candidate
    with its confidences at that temperature. Vote shares have no temperature."""
    table = _run(best).table
    if best.aggregation == "vote":
        return None, best
    if expert_map is not None and held.domains is not None:
        index = {e: j for j, e in enumerate(table.experts)}
        targets = np.zeros(table.scores.shape)
        targets[np.arange(table.n), [index[expert_map[d]] for d in held.domains]] = 1.0
    else:
        observed = held.columns(table.experts, held.scores)
        targets = (observed == np.nanmax(observed, axis=1, initial=-np.inf, keepdims=True)) * 1.0
    rows = np.isfinite(table.scores).all(axis=1) & (targets.sum(axis=1) > 0)
    if not rows.any():
        return None, best
    temperature = fit_temperature(table.scores[rows], targets[rows])
    run = _run(best).with_table(table.at_temperature(temperature))
    return temperature, replace(best, run=run)


def _run(best: Scored) -> FoldRun:
    """The chosen candidate's held-out decisions (a top candidate always keeps them)."""
    if best.run is None:
        msg = "internal error: the chosen candidate's held-out decisions were dropped"
        raise RuntimeError(msg)
    return best.run


def _criterion(held: HeldOut, domain_mode: bool) -> str:
    if not held.experts:
        return "routing accuracy"
    if not domain_mode and held.costs is not None:
        return "AIQ of the held-out cost-quality curve"
    return "mean observed score of the chosen expert"


def _threshold(
    best: Scored, held: HeldOut, expert_map: Mapping[str, str] | None
) -> tuple[float | None, list[dict[str, Any]]]:
    """The confidence threshold below which the prior does better on the held-out prompts: the
    best of the confidence quantiles, kept when it gains anything over no threshold.

    Ties go to the safe side, as they do for "no signal" (routing must beat the prior by one
    standard error): the prior is what an unsure router should fall back on when prompts unlike
    its training data arrive, which in-distribution folds cannot show."""
    run = _run(best)
    table = run.table
    index = {e: j for j, e in enumerate(table.experts)}
    rows = np.arange(table.n)
    confidence = table.probabilities[rows, [index[e] for e in run.chosen]]
    prior_run = run.prior_only()
    prior = held.outcome(prior_run.chosen, hits(prior_run, held, expert_map))
    routed = best.outcome
    tried: list[dict[str, Any]] = [{"threshold": None, "score": float(np.nanmean(routed))}]
    chosen, top_gain = None, 0.0
    for t in np.unique(np.quantile(confidence, _QUANTILES)).tolist():
        gain = np.where(confidence < t, prior, routed) - routed
        gain = gain[~np.isnan(gain)]
        mean = float(gain.mean()) if gain.size else 0.0
        tried.append({"threshold": t, "score": tried[0]["score"] + mean})
        if mean > top_gain:
            chosen, top_gain = t, mean
    return chosen, tried
