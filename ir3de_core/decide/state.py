"""`RoutedState`: everything a fitted router routes with, as one immutable value.

A router holds one `RoutedState` and replaces it in a single assignment whenever it changes (a
fit, an added or removed expert, feedback, a new policy). A decision reads the state once, so
threads that route while another one updates the router always see one consistent model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ir3de_core.decide.confidence import row_softmax
from ir3de_core.decide.decision import Contribution, ExpertScores
from ir3de_core.decide.explanation import (
    merge_word_pieces,
    occlusion_margins,
    token_margins,
    top_contributions,
)
from ir3de_core.decide.novelty import state_novelty
from ir3de_core.decide.policy import RoutingPolicy
from ir3de_core.decide.tokens import TokenBatch, TokenScorer
from ir3de_core.decide.uncertainty import state_spread
from ir3de_core.featurizers import Featurizer, is_token_featurizer
from ir3de_core.ridge.solver import RidgeSolution
from ir3de_core.ridge.statistics import SufficientStatistics
from ir3de_core.settings import RouterSettings

__all__ = ["Features", "RoutedState"]

Features = TokenBatch | NDArray[np.float64]
"""Featurized prompts: their tokens (token aggregations) or one row per prompt, shape (n, d)."""


@dataclass(frozen=True, eq=False)
class RoutedState:
    """A fitted router's model and policy.

    Attributes:
        settings: the validated settings it was fitted with.
        featurizer: the ready (fitted) featurizer.
        statistics: the sufficient statistics the solution was solved from.
        solution: the ridge weights, coef (d, k) and intercept (k,).
        expert_map: domain → expert (domain mode), else None.
        policy: how scores become decisions.
        prior: the best expert without looking at the prompt (the best single expert).
        tuning: what cross-validation chose at fit time (`ir3de_core.fit.tuning.TuningResult`),
            None when nothing was tuned.
        experts: the expert names, in score order (derived).
        group_expert: array of shape (k_groups,), the expert column of each group (derived).
        token_scorer: every vocabulary token's scores, for token aggregations (derived).
    """

    settings: RouterSettings
    featurizer: Featurizer
    statistics: SufficientStatistics
    solution: RidgeSolution
    expert_map: Mapping[str, str] | None
    policy: RoutingPolicy = field(default_factory=RoutingPolicy)
    prior: str | None = None
    tuning: Any = None
    experts: tuple[str, ...] = field(init=False)
    group_expert: NDArray[np.intp] = field(init=False)
    token_scorer: TokenScorer | None = field(init=False)

    def __post_init__(self) -> None:
        names = self.statistics.names
        if self.expert_map is None:
            experts, index = names, np.arange(len(names), dtype=np.intp)
        else:
            experts = tuple(dict.fromkeys(self.expert_map[g] for g in names))
            index = np.array([experts.index(self.expert_map[g]) for g in names], dtype=np.intp)
        object.__setattr__(self, "experts", experts)
        object.__setattr__(self, "group_expert", index)
        scorer = None
        if self.uses_tokens:
            scorer = TokenScorer(self.featurizer.table, self.solution)  # type: ignore[attr-defined]
        object.__setattr__(self, "token_scorer", scorer)

    def replace(self, **changes: Any) -> RoutedState:
        """A new state with some fields changed (derived fields are derived again)."""
        return replace(self, **changes)

    @property
    def uses_tokens(self) -> bool:
        """Whether prompts are scored token by token (token featurizer, not pooled)."""
        return is_token_featurizer(self.featurizer) and self.settings.aggregation != "pooled"

    @property
    def votes(self) -> bool:
        """Whether scores are vote shares (token featurizer with ``vote``)."""
        return self.token_scorer is not None and self.settings.aggregation == "vote"

    @property
    def groups(self) -> tuple[str, ...]:
        """Columns of the regression: domains (domain mode) or experts (quality mode)."""
        return self.statistics.names

    # ------------------------------------------------------------------ scoring
    def row_features(self, prompts: Sequence[str]) -> NDArray[np.float64]:
        """One finite feature row per prompt, checked against the fitted width: shape (n, d)."""
        features = np.asarray(self.featurizer.transform(list(prompts)), dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != self.statistics.n_features:
            msg = (
                f"the featurizer gives features of shape {features.shape} but the router was "
                f"fitted on {self.statistics.n_features}; use the featurizer it was fitted with"
            )
            raise ValueError(msg)
        bad = np.flatnonzero(~np.isfinite(features).all(axis=1))
        if bad.size:
            msg = f"the featurizer gave NaN or inf features for prompt(s) {bad[:5].tolist()}"
            raise ValueError(msg)
        return features

    def featurize(self, prompts: Sequence[str]) -> Features:
        """What scores are computed from: the prompts' tokens, or one row per prompt."""
        if self.token_scorer is not None:
            return TokenBatch.from_ids(self.featurizer.token_ids(prompts))  # type: ignore[attr-defined]
        return self.row_features(prompts)

    def group_scores(self, prompts: Sequence[str]) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
        """Winning group and per-group scores: arrays of shape (n,) and (n, k_groups)."""
        return self.group_scores_of(self.featurize(prompts))

    def group_scores_of(
        self, features: Features, aggregation: str | None = None
    ) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
        """`group_scores` of featurized prompts (see `featurize`); token features may be
        aggregated another way than the settings say (``"vote"`` or ``"average"``)."""
        if isinstance(features, TokenBatch):
            if self.token_scorer is None:
                msg = "token features given to a router that scores rows"
                raise TypeError(msg)
            if (aggregation or self.settings.aggregation) == "vote":
                return self.token_scorer.vote(features, self.settings.entropy_top_k)
            scores = self.token_scorer.average(features)
        else:
            scores = features @ self.solution.coef + self.solution.intercept
        return scores.argmax(axis=1), scores

    def expert_scores(
        self, group_scores: NDArray[np.float64], votes: bool | None = None
    ) -> NDArray[np.float64]:
        """Per-expert scores, shape (n, n_experts): an expert's vote share is the sum over its
        domains; any other score is the best over its domains."""
        if self.expert_map is None:
            return group_scores
        n, k = group_scores.shape[0], len(self.experts)
        if self.votes if votes is None else votes:
            out = np.zeros((n, k))
            np.add.at(out.T, self.group_expert, group_scores.T)
            return out
        out = np.full((n, k), -np.inf)
        np.maximum.at(out.T, self.group_expert, group_scores.T)
        return out

    def score(
        self,
        prompts: Sequence[str],
        costs: NDArray[np.float64] | None = None,
        *,
        spread: bool = False,
        novelty: bool = True,
    ) -> ExpertScores:
        """What a policy decides from: scores, probabilities and costs of every expert.

        Args:
            prompts: n prompts.
            costs: array of shape (n, k), each expert's cost per prompt, or None (unpriced).
            spread: also each prediction's spread (what an exploring policy explores with).
            novelty: also each prompt's novelty (`ir3de_core.decide.novelty`).
        """
        return self.score_of(self.featurize(prompts), costs, spread=spread, novelty=novelty)

    def score_of(
        self,
        features: Features,
        costs: NDArray[np.float64] | None = None,
        aggregation: str | None = None,
        *,
        spread: bool = False,
        novelty: bool = False,
    ) -> ExpertScores:
        """`score` of featurized prompts (see `featurize`; `aggregation` as in
        `group_scores_of`; `spread` and `novelty` as in `score`)."""
        winners, group_scores = self.group_scores_of(features, aggregation)
        spreads = state_spread(self, features) if spread else None  # type: ignore[arg-type]
        table = self.score_from(winners, group_scores, aggregation, costs, spreads)
        return replace(table, novelty=state_novelty(self, features)) if novelty else table

    def score_from(
        self,
        winners: NDArray[np.intp],
        group_scores: NDArray[np.float64],
        aggregation: str | None = None,
        costs: NDArray[np.float64] | None = None,
        spread: NDArray[np.float64] | None = None,
    ) -> ExpertScores:
        """`score_of` from the group scores (n, k_groups) and winning groups (n,) already
        computed (e.g. by a `ProjectedPath` during cross-validation); `spread` (n, k) is each
        prediction's spread, or None."""
        votes = (
            self.token_scorer is not None and (aggregation or self.settings.aggregation) == "vote"
        )
        scores = self.expert_scores(group_scores, votes)
        probabilities = scores if votes else row_softmax(scores / self.settings.temperature)
        domain_mode = self.expert_map is not None
        if costs is not None and np.shape(costs) != scores.shape:
            msg = f"costs must have shape {scores.shape} (prompts × experts), got {np.shape(costs)}"
            raise ValueError(msg)
        return ExpertScores(
            experts=self.experts,
            scores=scores,
            probabilities=probabilities,
            quality=self._vote_quality(winners, group_scores)
            if self.votes and domain_mode
            else probabilities
            if domain_mode
            else scores,
            costs=None if costs is None else np.asarray(costs, dtype=np.float64),
            domains=[self.groups[g] for g in winners.tolist()] if domain_mode else None,
            prior=self.prior,
            spread=spread,
        )

    def _vote_quality(
        self, winners: NDArray[np.intp], group_scores: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """What a policy weighs for a vote: each expert's best domain's vote share, the winning
        domain's expert a hair ahead, so the best rule picks the expert of the domain that won
        the vote (ties broken by the average token score): shape (n, n_experts)."""
        n, k = group_scores.shape[0], len(self.experts)
        best = np.zeros((n, k))
        np.maximum.at(best.T, self.group_expert, group_scores.T)
        best[np.arange(n), self.group_expert[winners]] += 1e-9
        return best

    def explain(self, prompt: str, expert: str, top: int) -> tuple[Contribution, ...]:
        """The words of `prompt` that most favour `expert`'s best group (a word's weight is the
        sum of its tokens' margins; without a token featurizer, how much leaving it out costs)."""
        _, group_scores = self.group_scores([prompt])
        columns = np.flatnonzero(self.group_expert == self.experts.index(expert))
        g = int(columns[np.argmax(group_scores[0, columns])])
        if self.token_scorer is not None:
            ids = self.featurizer.token_ids([prompt])[0]  # type: ignore[attr-defined]
            pieces = self.featurizer.token_strings(ids)  # type: ignore[attr-defined]
            units, margins = merge_word_pieces(
                pieces, token_margins(self.token_scorer.scores[ids], g)
            )
        else:
            units, margins = occlusion_margins(prompt, g, lambda t: self.group_scores(t)[1])
        return top_contributions(units, margins, top)
