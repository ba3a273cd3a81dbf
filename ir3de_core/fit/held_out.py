"""Scoring a candidate on the held-out prompts: each fold's held-out decisions, then what they
achieved (the criterion of `ir3de_core.fit.tuning`'s module docstring).

`HeldOut` holds the held-out sample as arrays; `held_out_decisions` scores each fold's prompts
with the state fitted without that fold (`FoldRun`); `candidate_score` turns a run into the
criterion, the squared error of predicted quality and the per-prompt outcome.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from ir3de_core.decide.calibration import lambda_path
from ir3de_core.decide.decision import ExpertScores
from ir3de_core.decide.metrics import aiq
from ir3de_core.decide.policy import RoutingPolicy
from ir3de_core.decide.state import Features, RoutedState
from ir3de_core.decide.tokens import TokenBatch
from ir3de_core.fit.folds import HeldOutSample

__all__ = [
    "FoldRows",
    "FoldRun",
    "HeldOut",
    "candidate_score",
    "fold_features",
    "held_out_decisions",
    "hits",
]


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


@dataclass(frozen=True, eq=False)
class FoldRun:
    """One candidate's held-out decisions, fold by fold, concatenated in held-out order.

    Attributes:
        parts: each fold's decision inputs (scores, probabilities, ...), in fold order.
        order: array of shape (n,), the held-out row of each row of the parts stacked.
        chosen: the best-rule expert of each prompt.
        domains: the predicted domain of each prompt (domain mode).
        prior: the best single expert of the fold each prompt was held out of.
        whole: the parts as one table in held-out order, once formed (see `table`).
        temperature: when set, the parts' probabilities were not computed (they are the
            scores): `table` computes them as ``softmax(scores / temperature)``.
    """

    parts: tuple[ExpertScores, ...]
    order: NDArray[np.intp]
    chosen: list[str]
    domains: list[str] | None
    prior: list[str]
    whole: ExpertScores | None = None
    temperature: float | None = None

    @property
    def table(self) -> ExpertScores:
        """Every held-out prompt's decision inputs in held-out order: the parts concatenated
        when first asked for (at 10,000 experts an n × k table is 160 MB per 2,000 prompts;
        only the chosen candidate's is needed, to calibrate its confidence)."""
        if self.whole is None:
            whole = _concatenated(self.parts, self.order)
            if self.temperature is not None:
                whole = whole.at_temperature(self.temperature)
            object.__setattr__(self, "whole", whole)
        assert self.whole is not None
        return self.whole

    def with_table(self, table: ExpertScores) -> FoldRun:
        """These decisions with another table of the same prompts (held-out order)."""
        return replace(self, whole=table, temperature=None)

    def prior_only(self) -> FoldRun:
        """These prompts, each sent to its fold's best single expert (no prompt signal)."""
        return replace(self, chosen=list(self.prior))

    def squared_error(self, observed: NDArray[np.float64]) -> float:
        """The mean of ``(score − observed)²`` over the observed (not NaN) entries, with
        observed (n, k) in held-out order, computed fold by fold (no n × k table formed)."""
        if self.whole is not None:
            return _mean_squared_error(self.whole.scores, observed)
        total, count, start = 0.0, 0, 0
        for part in self.parts:
            rows = self.order[start : start + part.n]
            more_total, more_count = _squared_error_sums(part.scores, observed, rows)
            total, count, start = total + more_total, count + more_count, start + part.n
        return total / count if count else math.nan


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
    # quality mode: the choice is the best predicted score, so the probabilities (a softmax
    # of n × k scores per candidate) wait until the table is asked for
    lazy = scored and all(s.expert_map is None and s.token_scorer is None for s in states)
    for state, fold_features in zip(states, features, strict=True):
        if fold_features is None:
            continue
        if scored:
            group_scores = np.asarray(fold_features, dtype=np.float64)
            table = state.score_from(group_scores.argmax(axis=1), group_scores, aggregation,
                                     calibrate=not lazy)  # fmt: skip
        else:
            table = state.score_of(fold_features, aggregation=aggregation)
        picks = RoutingPolicy().choose(table).index
        tables.append(table)
        chosen += [table.experts[j] for j in picks.tolist()]
        domains += list(table.domains) if table.domains is not None else []
        prior += [str(state.prior)] * table.n
    back = np.argsort(order)  # from fold order back to held-out order
    return FoldRun(
        tuple(tables), order, [chosen[i] for i in back],
        [domains[i] for i in back] if domains else None, [prior[i] for i in back],
        temperature=states[0].settings.temperature if lazy else None,
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
    if state.token_scorer is None:  # rows: indexed from the sample or featurized, by fold
        return list(FoldRows(state, held, folds))
    out: list[Features | None] = []
    per_fold = [np.flatnonzero(held.folds == f) for f in range(folds)]
    everything = state.featurize(held.prompts)
    for rows in per_fold:
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


class FoldRows(Sequence[NDArray[np.float64] | None]):
    """Each fold's held-out feature rows (n_f, d), formed when a fold is read: the rows of one
    fold are alive at a time, not every held-out prompt's (8,192 × 65,536 features: 4.3 GB).
    Rows the sample kept are indexed; others are featurized. Read each fold once."""

    def __init__(self, state: RoutedState, held: HeldOut, folds: int) -> None:
        self._state, self._held = state, held
        self._rows = [np.flatnonzero(held.folds == f) for f in range(folds)]

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, f: int) -> NDArray[np.float64] | None:  # type: ignore[override]
        rows, kept = self._rows[f], self._held.features
        if not rows.size:
            return None
        if kept is not None and kept.shape[1] == self._state.statistics.n_features:
            return np.asarray(kept[rows], dtype=np.float64)
        return np.asarray(
            self._state.featurize([self._held.prompts[i] for i in rows.tolist()]),
            dtype=np.float64,
        )


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
    observed = held.columns(run.parts[0].experts, held.scores)
    error = run.squared_error(observed)
    if held.costs is not None:
        return _held_out_aiq(run, held, observed), error, outcome
    return float(np.nanmean(outcome)), error, outcome


def _mean_squared_error(predicted: NDArray[np.float64], observed: NDArray[np.float64]) -> float:
    """The mean of ``(predicted − observed)²`` over the entries observed (not NaN), for
    arrays of shape (n, k): a block of rows at a time, so no n × k temporary is made."""
    total, count = _squared_error_sums(predicted, observed)
    return total / count if count else math.nan


def _squared_error_sums(
    predicted: NDArray[np.float64],
    observed: NDArray[np.float64],
    rows: NDArray[np.intp] | None = None,
) -> tuple[float, int]:
    """The sum of ``(predicted − observed[rows])²`` over the observed entries, and their
    count (rows: array of shape (n,), default all): a block of rows at a time."""
    total, count = 0.0, 0
    step = max(1, (1 << 16) // max(predicted.shape[1], 1))
    for start in range(0, predicted.shape[0], step):
        block = slice(start, start + step)
        seen_rows = observed[block] if rows is None else observed[rows[block]]
        diff = (predicted[block] - seen_rows).ravel()
        seen = ~np.isnan(diff)
        if seen.all():  # every score observed (the usual case): one BLAS pass
            total += float(diff @ diff)
            count += diff.size
        else:
            total += float(np.square(diff, where=seen, out=np.zeros_like(diff)).sum())
            count += int(seen.sum())
    return total, count


def _held_out_aiq(run: FoldRun, held: HeldOut, observed: NDArray[np.float64]) -> float:
    """AIQ of the held-out λ curve, on the cost range of the single experts."""
    costs = held.columns(run.table.experts, held.costs) if held.costs is not None else None
    if costs is None or np.isnan(costs).any():
        return float(np.nanmean(held.outcome(run.chosen)))
    path = lambda_path(run.table.scores, costs, scores=np.nan_to_num(observed), n_points=41)
    means = costs.mean(axis=0)
    return aiq([p.cost for p in path], [p.quality or 0.0 for p in path],
               cost_range=(float(means.min()), float(means.max())))  # fmt: skip
