"""Choosing α, the token aggregation and a safe-default threshold by k-fold cross-validation.

Everything comes from per-fold statistics: the prompts are featurized once, each fold keeps its
own sums, and the fit without fold f is the total minus fold f — so each candidate α costs k
solves (one eigendecomposition per fold serves the whole grid) and no featurizing. Candidates
are scored by what routing achieves on the held-out prompts, not by squared error:

* quality mode: the mean observed score of the chosen expert (with costs: the AIQ of the
  held-out λ curve, the area under quality − λ·cost routing's cost–quality hull);
* domain mode: the mean observed score of the chosen domain's expert when scores are known,
  else the share of prompts routed to their own domain.

The grid holds "no prompt signal" too (every prompt to the best single expert), so on the folds
a tuned router is never worse than the best single expert; routing must beat it by more than one
standard error of the paired per-prompt gain (the one-standard-error rule), so that noise alone
does not make a router route. Among routing candidates, ties go to the most regularised one (in
quality mode, the largest α whose held-out squared error is within 1 % of the lowest).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ir3de_core.decide.calibration import lambda_path
from ir3de_core.decide.decision import ExpertScores
from ir3de_core.decide.metrics import aiq
from ir3de_core.decide.policy import RoutingPolicy
from ir3de_core.decide.state import Features, RoutedState
from ir3de_core.decide.tokens import TokenBatch
from ir3de_core.featurizers import is_token_featurizer
from ir3de_core.fit.folds import HeldOutSample
from ir3de_core.ridge.statistics import SufficientStatistics
from ir3de_core.settings import Aggregation, RouterSettings

__all__ = ["TuningResult", "aggregations", "alpha_grid", "representation"]

GRID_EXPONENTS = np.arange(-4.0, 1.01, 0.5)
"""α = (mean eigenvalue of the scatter) × 10^e for these e: scale-free, from a penalty of a
ten-thousandth of the data's own spread to ten times it."""


def representation(aggregation: str) -> str:
    """``"tokens"`` (a row per token) for vote/average, ``"rows"`` (a row per prompt) else."""
    return "tokens" if aggregation in ("vote", "average") else "rows"


def aggregations(settings: RouterSettings, featurizer: Any) -> list[Aggregation]:
    """The aggregations a fit tries: the setting, or every one that makes sense."""
    if not is_token_featurizer(featurizer):
        return ["pooled"]
    if settings.aggregation != "auto":
        return [settings.aggregation]
    if settings.target == "quality":  # vote shares are not predicted qualities
        return ["average", "pooled"]
    return ["vote", "average", "pooled"]


def alpha_grid(statistics: SufficientStatistics, settings: RouterSettings) -> list[float]:
    """The α candidates: the setting, or a log grid scaled to the statistics' spread."""
    if settings.alpha != "auto":
        return [float(settings.alpha)]
    d = statistics.n_features
    if statistics.design == "shared":
        scale = statistics.pooled()[2].trace() / d
    else:  # the mean over the experts with data of the trace of their scatter
        used = statistics.block[statistics.block >= 0]
        traces = np.array([b.scatter.trace() for b in statistics.blocks])
        scale = float(traces[used].mean()) / d if used.size else 1.0
    scale = scale if math.isfinite(scale) and scale > 0 else 1.0
    return [float(scale * 10.0**e) for e in GRID_EXPONENTS]


@dataclass(frozen=True)
class TuningResult:
    """What cross-validation chose, and how every candidate scored (like ``RidgeCV``).

    Attributes:
        alpha: the chosen α (``inf``: no prompt signal).
        aggregation: the chosen aggregation.
        threshold: the chosen safe-default confidence threshold, or None.
        criterion: what candidates were scored by.
        folds: number of folds.
        n_held_out: held-out prompts scored.
        candidates: ``[{"aggregation", "alpha", "score", "error"}]`` in grid order.
        thresholds: ``[{"threshold", "score"}]`` tried for the chosen candidate.
        standard_error: standard error of the best routing candidate's held-out gain over no
            signal (per-prompt criteria): routing is chosen only when the gain exceeds it.
        fold_gains: the best routing candidate's mean held-out gain over no signal in each fold
            (per-prompt criteria), the spread that a per-fold standard error is taken from.
        temperature: the softmax temperature fitted on the held-out outcomes (None: not fitted).
        novelty_threshold: the novelty above which prompts go to the safe default, or None
            (`ir3de_core.fit.novelty_threshold`); novelty_thresholds: ``[{"threshold", "gain"}]``.
        featurizers: with ``featurizer="auto"``, ``[{"featurizer", "score", "alpha",
            "standard_error"}]`` of every installed featurizer tried, in order
            (`ir3de_core.fit.featurizer_choice`).
    """

    alpha: float
    aggregation: Aggregation
    threshold: float | None
    criterion: str
    folds: int
    n_held_out: int
    candidates: list[dict[str, Any]] = field(default_factory=list)
    thresholds: list[dict[str, Any]] = field(default_factory=list)
    standard_error: float | None = None
    fold_gains: list[float] = field(default_factory=list)
    temperature: float | None = None
    novelty_threshold: float | None = None
    novelty_thresholds: list[dict[str, Any]] = field(default_factory=list)
    featurizers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def no_signal(self) -> bool:
        """Whether cross-validation chose not to route on the prompt at all."""
        return self.alpha == math.inf

    def to_json(self) -> dict[str, Any]:
        """JSON-compatible values (infinities as the string "inf")."""
        return _json_safe(asdict(self))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TuningResult:
        """Inverse of `to_json`, validated."""
        values = _from_safe(dict(data))
        if not isinstance(values.get("candidates"), list):
            msg = "tuning results need a list of candidates"
            raise ValueError(msg)
        return cls(**values)


@dataclass(frozen=True, eq=False)
class HeldOut:
    """The held-out sample as arrays: what each candidate is scored against.

    Attributes:
        prompts: the n held-out prompts.
        folds: array of shape (n,), the fold of each prompt.
        experts: the experts whose observed scores are known.
        scores: array of shape (n, k_e), observed scores (NaN: unknown).
        costs: array of shape (n, k_e), costs, or None when any is unknown.
        domains: the true domain of each prompt (domain mode), else None.
        features: array of shape (n, d), the prompts' feature rows if the sample kept them.
    """

    prompts: list[str]
    folds: NDArray[np.intp]
    experts: tuple[str, ...]
    scores: NDArray[np.float64]
    costs: NDArray[np.float64] | None
    domains: list[str] | None
    features: NDArray[np.float64] | None = None

    @classmethod
    def of(cls, sample: HeldOutSample, folds: int) -> HeldOut:
        """The arrays of a held-out sample, with each prompt's fold."""
        has_costs = sample.costs.size > 0 and bool(np.isfinite(sample.costs).all())
        labelled = bool(sample.domains) and all(d is not None for d in sample.domains)
        return cls(
            list(sample.prompts), sample.folds(folds), sample.experts, sample.scores,
            sample.costs if has_costs else None,
            [str(d) for d in sample.domains] if labelled else None, sample.features,
        )  # fmt: skip

    def columns(self, experts: Sequence[str], values: NDArray[np.float64]) -> NDArray[np.float64]:
        """`values` (scores or costs) reordered as `experts`: shape (n, len(experts)), NaN for
        an expert without observations."""
        if tuple(experts) == self.experts:
            return values  # the usual case: no n × k copy (callers only read it)
        index = {e: j for j, e in enumerate(self.experts)}
        source = np.array([index.get(e, -1) for e in experts], dtype=np.intp)
        out = (
            values[:, np.maximum(source, 0)]
            if len(self.experts)
            else np.zeros((len(values), len(source)))
        )
        out[:, source < 0] = np.nan
        return out

    def outcome(
        self, chosen: Sequence[str], hits: Sequence[bool] | None = None
    ) -> NDArray[np.float64]:
        """What routing achieved per prompt: the chosen expert's observed score (NaN when
        unknown); without any scores, `hits` (routed to its own domain) as 1.0 or 0.0."""
        if not self.experts:
            if hits is None:
                msg = "nothing to score the candidates by: the held-out prompts have no scores"
                raise ValueError(msg)
            return np.asarray(hits, dtype=np.float64)
        index = {e: j for j, e in enumerate(self.experts)}
        rows = np.arange(len(chosen))
        cols = np.array([index.get(e, -1) for e in chosen], dtype=np.intp)
        values = np.where(cols >= 0, self.scores[rows, np.maximum(cols, 0)], np.nan)
        return np.asarray(values, dtype=np.float64)


FALLBACK_ALPHA = 1.0
"""α when there are too few prompts per group to cross-validate (e.g. a router built from one
description per expert): the value the adapters were measured with."""


def untuned(settings: RouterSettings, featurizer: Any, fewest: int) -> TuningResult:
    """The settings of a fit too small to cross-validate: `FALLBACK_ALPHA`, the average of the
    token scores (graded scores for every expert), no safe-default threshold."""
    ways = aggregations(settings, featurizer)
    aggregation = "average" if "average" in ways else ways[0]
    alpha = FALLBACK_ALPHA if settings.alpha == "auto" else float(settings.alpha)
    reason = (
        f"not cross-validated: a group has {fewest} prompt(s), fewer than the {settings.cv} folds"
    )
    return TuningResult(alpha, aggregation, None, reason, settings.cv, 0)


def tuned_policy(policy: RoutingPolicy, result: TuningResult, domain_mode: bool) -> RoutingPolicy:
    """The user's policy with what tuning chose: a safe-default threshold (unless the policy
    has its own), or, when no signal won in domain mode, every prompt to the default."""
    if policy.novelty_threshold is None and result.novelty_threshold is not None:
        policy = policy.replace(novelty_threshold=result.novelty_threshold)
    if policy.threshold is not None:
        return policy
    if result.no_signal and domain_mode:
        return policy.replace(threshold=math.inf, threshold_on="confidence")
    if result.threshold is not None:
        return policy.replace(threshold=result.threshold, threshold_on="confidence")
    return policy


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _from_safe(value: Any) -> Any:
    if value in ("inf", "-inf"):
        return float(value)
    if isinstance(value, dict):
        return {k: _from_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_safe(v) for v in value]
    return value


# ---------------------------------------------------------------------- scoring a candidate
@dataclass(frozen=True, eq=False)
class FoldRun:
    """One candidate's held-out decisions, fold by fold, concatenated in held-out order.

    Attributes:
        table: the decisions' inputs for every held-out prompt (scores, probabilities, ...).
        chosen: the best-rule expert of each prompt.
        domains: the predicted domain of each prompt (domain mode).
        prior: the best single expert of the fold each prompt was held out of.
    """

    table: ExpertScores
    chosen: list[str]
    domains: list[str] | None
    prior: list[str]

    def prior_only(self) -> FoldRun:
        """These prompts, each sent to its fold's best single expert (no prompt signal)."""
        return replace(self, chosen=list(self.prior))


def held_out_decisions(
    states: Sequence[RoutedState],
    held: HeldOut,
    features: Sequence[Features | NDArray[np.float64] | None],
    aggregation: str | None = None,
    *,
    scored: bool = False,
) -> FoldRun:
    """Score each fold's held-out prompts with the state fitted without that fold (folds
    without held-out prompts have no features), token features aggregated by `aggregation`;
    with `scored`, `features` are already each fold's group scores (n_f, k)."""
    order = np.concatenate([np.flatnonzero(held.folds == f) for f in range(len(states))])
    tables, chosen, domains, prior = [], [], [], []
    for state, fold_features in zip(states, features, strict=True):
        if fold_features is None:
            continue
        if scored:
            group_scores = np.asarray(fold_features, dtype=np.float64)
            table = state.score_from(group_scores.argmax(axis=1), group_scores, aggregation)
        else:
            table = state.score_of(fold_features, aggregation=aggregation)
        picks = RoutingPolicy().choose(table).index
        tables.append(table)
        chosen += [table.experts[j] for j in picks.tolist()]
        domains += list(table.domains) if table.domains is not None else []
        prior += [str(state.prior)] * table.n
    back = np.argsort(order)  # from fold order back to held-out order
    merged = _concatenated(tables, order)
    return FoldRun(
        merged, [chosen[i] for i in back], [domains[i] for i in back] if domains else None,
        [prior[i] for i in back],
    )  # fmt: skip


def _concatenated(tables: Sequence[ExpertScores], order: NDArray[np.intp]) -> ExpertScores:
    """The folds' tables as one, row ``order[i]`` of the held-out prompts from the i-th row of
    the tables stacked (each number is copied once: the tables hold n × k numbers each)."""
    n, k = len(order), len(tables[0].experts)
    scores, probabilities = np.empty((n, k)), np.empty((n, k))
    quality_is = "scores" if tables[0].quality is tables[0].scores else "probabilities"
    quality_is = quality_is if all(t.quality is getattr(t, quality_is) for t in tables) else ""
    quality = np.empty((n, k)) if not quality_is else None
    start = 0
    for t in tables:
        rows = order[start : start + t.n]
        scores[rows], probabilities[rows] = t.scores, t.probabilities
        if quality is not None:
            quality[rows] = t.quality
        start += t.n
    same = {"scores": scores, "probabilities": probabilities}
    return ExpertScores(
        tables[0].experts, scores, probabilities, same[quality_is] if quality is None else quality
    )


def fold_features(state: RoutedState, held: HeldOut, folds: int) -> list[Features | None]:
    """Each fold's held-out prompts, featurized once for a representation (rows the sample
    kept are reused)."""
    out: list[Features | None] = []
    kept = held.features
    if (
        state.token_scorer is None
        and kept is not None
        and kept.shape[1] == state.statistics.n_features
    ):
        everything: Features = kept
    else:
        everything = state.featurize(held.prompts)
    for f in range(folds):
        rows = np.flatnonzero(held.folds == f)
        if isinstance(everything, TokenBatch):
            ids = [
                everything.ids[start : start + length]
                for start, length in zip(
                    everything.starts[rows], everything.lengths[rows], strict=True
                )
            ]
            out.append(TokenBatch.from_ids(ids) if ids else None)
        else:
            out.append(everything[rows] if rows.size else None)
    return out


def hits(run: FoldRun, held: HeldOut, expert_map: Mapping[str, str] | None) -> list[bool] | None:
    """Domain mode without scores: whether each prompt went to its own domain's expert."""
    if held.domains is None or expert_map is None:
        return None
    return [expert_map.get(t) == e for t, e in zip(held.domains, run.chosen, strict=True)]


def candidate_score(
    run: FoldRun, held: HeldOut, expert_map: Mapping[str, str] | None
) -> tuple[float, float, NDArray[np.float64]]:
    """(criterion, squared error of predicted quality, per-prompt outcome) of one candidate."""
    routed_home = hits(run, held, expert_map)
    outcome = held.outcome(run.chosen, routed_home)
    if run.domains is not None:  # domain mode
        if np.isnan(outcome).all() and routed_home is not None:  # the experts were never scored
            outcome = np.asarray(routed_home, dtype=np.float64)
        return float(np.nanmean(outcome)), math.nan, outcome
    observed = held.columns(run.table.experts, held.scores)
    error = _mean_squared_error(run.table.scores, observed)
    if held.costs is not None:
        return _held_out_aiq(run, held, observed), error, outcome
    return float(np.nanmean(outcome)), error, outcome


def _mean_squared_error(predicted: NDArray[np.float64], observed: NDArray[np.float64]) -> float:
    """The mean of ``(predicted − observed)²`` over the entries observed (not NaN), for
    arrays of shape (n, k): a block of rows at a time, so no n × k temporary is made."""
    total, count = 0.0, 0
    step = max(1, (1 << 16) // max(predicted.shape[1], 1))
    for start in range(0, predicted.shape[0], step):
        diff = predicted[start : start + step] - observed[start : start + step]
        seen = ~np.isnan(diff)
        total += float(np.square(diff, where=seen, out=np.zeros_like(diff)).sum())
        count += int(seen.sum())
    return total / count if count else math.nan


def _held_out_aiq(run: FoldRun, held: HeldOut, observed: NDArray[np.float64]) -> float:
    """AIQ of the held-out λ curve, on the cost range of the single experts."""
    costs = held.columns(run.table.experts, held.costs) if held.costs is not None else None
    if costs is None or np.isnan(costs).any():
        return float(np.nanmean(held.outcome(run.chosen)))
    path = lambda_path(run.table.scores, costs, scores=np.nan_to_num(observed), n_points=41)
    means = costs.mean(axis=0)
    return aiq([p.cost for p in path], [p.quality or 0.0 for p in path],
               cost_range=(float(means.min()), float(means.max())))  # fmt: skip
