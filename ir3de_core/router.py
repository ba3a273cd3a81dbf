"""`IR3DERouter`: a closed-form ridge router over prompt features (scikit-learn estimator)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy.special import softmax
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from ir3de_core.decision import Contribution, RoutingDecision
from ir3de_core.exceptions import ExpertError
from ir3de_core.explanation import occlusion_margins, token_margins, top_contributions
from ir3de_core.features import TokenBatch, TokenScorer, row_statistics, token_statistics
from ir3de_core.featurizers import Featurizer, is_token_featurizer, make_featurizer, validate_texts
from ir3de_core.online import RankOneRidge
from ir3de_core.settings import validate_settings
from ir3de_core.solver import InterceptMode, RidgeSolution, solve_statistics
from ir3de_core.statistics import Design, SufficientStatistics
from ir3de_core.targets import (
    MissingScores,
    domain_targets,
    learn_expert_map,
    score_matrix,
    validate_expert_map,
)

__all__ = ["Aggregation", "IR3DERouter", "Target"]

Target = Literal["domain", "quality"]
Aggregation = Literal["vote", "average", "pooled"]


class IR3DERouter(BaseEstimator):
    """Route prompts to expert LLMs with a ridge regression solved in closed form.

    Args:
        featurizer: ``"tokens"`` (the paper's per-token embedding rows), ``"sentence"``,
            ``"hashing"``, ``"openai"``, a config dict ``{"kind": ..., **settings}``, or an instance.
        target: ``"domain"`` (one-hot domain labels; the paper) or ``"quality"`` (regress each
            expert's score and route to the highest prediction).
        aggregation: for token featurizers, ``"vote"`` (majority of token argmaxes), ``"average"``
            (argmax of the mean token score) or ``"pooled"`` (one mean-pooled row per prompt).
        entropy_top_k: with ``vote``, only the k tokens whose score distribution has the lowest
            entropy vote; None lets every token vote.
        alpha: ridge penalty λ.
        intercept: ``"centered"`` (unpenalised, as scikit-learn), ``"penalized"`` (the paper's bias
            column inside the penalty) or ``"none"``.
        normalize: scale each expert's weight column to unit norm; ``"auto"`` does so in domain
            mode (the paper) and not in quality mode (where scores are predicted qualities).
        balance: in domain mode, weight domains so each counts equally whatever its prompt lengths.
        expert_map: domain → expert; None learns it from per-expert scores when given, else each
            domain is its own expert.
        missing_scores: ``"raise"`` on NaN/missing quality scores, or ``"ignore"`` to leave them out
            of that expert's fit (with a warning that counts them).
        confidence_temperature: softmax temperature turning scores into a confidence (non-vote).
    """

    _online: RankOneRidge | None = None  # rank-one updater of partial_fit, while it is valid

    def __init__(
        self,
        featurizer: str | dict[str, Any] | Featurizer = "tokens",
        *,
        target: Target = "domain",
        aggregation: Aggregation = "vote",
        entropy_top_k: int | None = None,
        alpha: float = 1.0,
        intercept: InterceptMode = "centered",
        normalize: bool | Literal["auto"] = "auto",
        balance: bool = True,
        expert_map: Mapping[str, str] | None = None,
        missing_scores: MissingScores = "raise",
        confidence_temperature: float = 0.1,
    ) -> None:
        self.featurizer = featurizer
        self.target = target
        self.aggregation = aggregation
        self.entropy_top_k = entropy_top_k
        self.alpha = alpha
        self.intercept = intercept
        self.normalize = normalize
        self.balance = balance
        self.expert_map = expert_map
        self.missing_scores = missing_scores
        self.confidence_temperature = confidence_temperature

    # ================================================================== fitting
    def fit(
        self,
        X: Sequence[str],
        y: Any,
        *,
        scores: Any = None,
        experts: Sequence[str] | None = None,
    ) -> IR3DERouter:
        """Fit from prompts and targets.

        Args:
            X: n prompts.
            y: domain mode: n domain labels. Quality mode: per-expert scores, an array of shape
                (n, k) (columns named by `experts`), a DataFrame, or n mappings {expert: score}.
            scores: domain mode only: per-expert scores (same forms as quality `y`) from which the
                expert of each domain is learned when `expert_map` is None.
            experts: names of the score columns when scores are given as an array.
        """
        prompts = validate_texts(X)
        self.featurizer_ = self._prepare_featurizer(prompts)
        names, targets = self._targets(prompts, y, experts if self.target == "quality" else None)
        self.statistics_ = self._statistics(prompts, targets, names)
        if self.target == "domain":
            self.expert_map_ = self._expert_map(prompts, targets, names, scores, experts)
        return self._solve()

    def partial_fit(self, X: Sequence[str], y: Any) -> IR3DERouter:
        """Add more data (new domains or experts included) and re-solve; fits if not fitted.

        Feedback events fit here too: ``partial_fit([prompt], [{expert: observed_score}])``.
        In quality mode with row features (``sentence``, ``hashing``, ``openai``, pooled
        ``tokens``), the default centred intercept and no column normalisation, known experts
        are updated by rank-one (Sherman–Morrison) steps: O(d²) per event instead of k solves
        of d×d, with the same weights. `statistics_`, `coef_` and `intercept_` are then updated
        in place (``copy.copy(router)`` gives a router that does not share them).
        """
        if not hasattr(self, "statistics_"):
            return self.fit(X, y)
        prompts = validate_texts(X)
        names, targets = self._targets(prompts, y, known=self.statistics_.names)
        if self._updates_online(names):
            return self._online_update(prompts, targets)
        self.statistics_ = self.statistics_ + self._statistics(prompts, targets, names)
        if self.target == "domain":
            new = [g for g in names if g not in self.expert_map_]
            self.expert_map_ = {**self.expert_map_, **self._mapped(new)}
        return self._solve()

    def add_expert(
        self, name: str, X: Sequence[str], y: Any = None, *, expert: str | None = None
    ) -> IR3DERouter:
        """Add one expert (quality mode) or domain (domain mode) from its own data only.

        Args:
            name: the new expert (quality mode) or domain (domain mode).
            X: prompts of the new domain, or prompts the new expert was scored on.
            y: quality mode: the new expert's scores on `X`, shape (n,). Unused in domain mode.
            expert: domain mode: the expert the new domain routes to (default: `name`).
        """
        self._check_fitted()
        prompts = validate_texts(X)
        if self.target == "domain":
            names, targets = domain_targets([name] * len(prompts), len(prompts))
        else:
            if y is None:
                msg = (
                    "quality mode needs the new expert's scores: add_expert(name, prompts, scores)"
                )
                raise ValueError(msg)
            names, targets = score_matrix(
                np.asarray(y, dtype=np.float64), len(prompts), [name], missing=self.missing_scores
            )
        self.statistics_ = self.statistics_.add_expert(self._statistics(prompts, targets, names))
        if self.target == "domain":
            self.expert_map_ = {**self.expert_map_, name: expert or name}
        return self._solve()

    def remove_expert(self, name: str) -> IR3DERouter:
        """Remove an expert (with every domain routed to it) or one domain, without refitting."""
        self._check_fitted()
        if self.target == "quality" or name in self.statistics_.names:
            groups = [name]
        else:
            groups = [g for g, e in self.expert_map_.items() if e == name]
        if not groups:
            msg = f"unknown expert {name!r}; known experts: {list(self.experts_)}"
            raise ExpertError(msg)
        stats = self.statistics_
        for group in groups:
            stats = stats.remove_expert(group)
        if not stats.names:
            msg = f"removing {name!r} would leave the router with no experts"
            raise ExpertError(msg)
        self.statistics_ = stats
        if self.target == "domain":
            self.expert_map_ = {g: e for g, e in self.expert_map_.items() if g not in groups}
        return self._solve()

    def fit_statistics(
        self, statistics: SufficientStatistics, *, expert_map: Mapping[str, str] | None = None
    ) -> IR3DERouter:
        """Fit from precomputed statistics (e.g. summed over machines) with a ready featurizer."""
        self._validate_params()
        featurizer = make_featurizer(self.featurizer)
        if featurizer.n_features != statistics.n_features:
            msg = (
                f"the featurizer gives {featurizer.n_features} features but the statistics have "
                f"{statistics.n_features}; compute them with the same featurizer settings"
            )
            raise ValueError(msg)
        self.featurizer_ = featurizer
        self.statistics_ = statistics
        if self.target == "domain":
            self.expert_map_ = dict(expert_map or self.expert_map or self._mapped(statistics.names))
        return self._solve()

    def compute_statistics(self, X: Sequence[str], y: Any) -> SufficientStatistics:
        """Statistics of (X, y) with this router's settings, without changing the router.

        Used to fit on many machines: the sum of the parts equals the statistics of the whole.
        """
        if not hasattr(self, "featurizer_"):
            self._validate_params()
            self.featurizer_ = make_featurizer(self.featurizer)
        prompts = validate_texts(X)
        names, targets = self._targets(prompts, y)
        return self._statistics(prompts, targets, names)

    # ================================================================== prediction
    def decision_function(self, X: Sequence[str]) -> NDArray[np.float64]:
        """Per-expert scores (higher is better): array of shape (n_prompts, n_experts)."""
        return self._expert_scores(self._group_scores(validate_texts(X))[1])

    def predict(self, X: Sequence[str]) -> NDArray[np.object_]:
        """The chosen expert of each prompt: array of shape (n_prompts,)."""
        winners, _ = self._group_scores(validate_texts(X))
        return np.asarray(self._experts, dtype=object)[self._group_expert[winners]]

    def predict_domain(self, X: Sequence[str]) -> NDArray[np.object_]:
        """Domain mode: the predicted domain of each prompt, shape (n_prompts,)."""
        if self.target != "domain":
            msg = "predict_domain needs target='domain'; use predict() in quality mode"
            raise ValueError(msg)
        winners, _ = self._group_scores(validate_texts(X))
        return np.array([self.groups_[g] for g in winners], dtype=object)

    def route(
        self, X: Sequence[str], *, explain: bool = False, top: int = 5
    ) -> list[RoutingDecision]:
        """Route each prompt: the chosen expert, every expert's score and a confidence.

        Args:
            X: n prompts.
            explain: attach the `top` contributing tokens or words of each prompt.
            top: number of contributions to keep when explaining.
        """
        prompts = validate_texts(X)
        winners, group_scores = self._group_scores(prompts)
        expert_scores = self._expert_scores(group_scores)
        chosen = self._group_expert[winners]
        rows = np.arange(len(prompts))
        if self._votes:
            confidence = expert_scores[rows, chosen]
        else:
            confidence = softmax(expert_scores / self.confidence_temperature, axis=1)[rows, chosen]
        experts, groups = self.experts_, self.groups_
        domain_mode = self.target == "domain"
        decisions = []
        for i, (g, e) in enumerate(zip(winners.tolist(), chosen.tolist(), strict=True)):
            decisions.append(
                RoutingDecision(
                    expert=experts[e],
                    scores=dict(zip(experts, expert_scores[i].tolist(), strict=True)),
                    confidence=float(confidence[i]),
                    domain=groups[g] if domain_mode else None,
                    explanation=self._explain(prompts[i], g, top) if explain else (),
                )
            )
        return decisions

    def explain(self, prompt: str, *, top: int = 5) -> RoutingDecision:
        """Route one prompt and say which tokens (or words) pushed it to its expert."""
        return self.route([prompt], explain=True, top=top)[0]

    # ================================================================== persistence
    def save(self, directory: str | Path) -> Path:
        """Write ``arrays.npz`` and ``router.json`` to `directory` (no pickle)."""
        from ir3de_core.persistence import save_router

        self._check_fitted()
        return save_router(self, Path(directory))

    @classmethod
    def load(cls, directory: str | Path) -> IR3DERouter:
        """Load a router written by `save`, validating versions, shapes, dtypes and checksums."""
        from ir3de_core.persistence import load_router

        return load_router(Path(directory))

    def __copy__(self) -> IR3DERouter:
        """A shallow copy that shares nothing `partial_fit` updates in place."""
        out = self.__class__.__new__(self.__class__)
        out.__dict__.update(self.__dict__)
        if self._online is not None:
            out.statistics_ = self.statistics_.copy()
            out.coef_, out.intercept_ = self.coef_.copy(), self.intercept_.copy()
            out._online = None
        return out

    # ================================================================== fitted properties
    @property
    def groups_(self) -> tuple[str, ...]:
        """Columns of the regression: domains (domain mode) or experts (quality mode)."""
        self._check_fitted()
        return self.statistics_.names

    @property
    def experts_(self) -> tuple[str, ...]:
        """Expert names, in score order."""
        self._check_fitted()
        return self._experts

    @property
    def n_features_in_(self) -> int:
        """Feature width d."""
        self._check_fitted()
        return self.statistics_.n_features

    # ================================================================== internals
    def _validate_params(self) -> None:
        validate_settings(self.get_params(deep=False))

    def _prepare_featurizer(self, prompts: list[str]) -> Featurizer:
        """Validate the settings and build the featurizer, fitting it (e.g. TF-IDF) if it learns."""
        self._validate_params()
        featurizer = make_featurizer(self.featurizer)
        if callable(getattr(featurizer, "fit", None)) and not getattr(
            featurizer, "is_fitted", True
        ):
            featurizer.fit(prompts)  # type: ignore[attr-defined]
        return featurizer

    def _check_fitted(self) -> None:
        if not hasattr(self, "statistics_"):
            msg = (
                "this IR3DERouter is not fitted yet; call fit(prompts, y) or IR3DERouter.load(dir)"
            )
            raise NotFittedError(msg)

    @property
    def _uses_tokens(self) -> bool:
        return is_token_featurizer(self.featurizer_) and self.aggregation != "pooled"

    def _targets(
        self, prompts: list[str], y: Any, known: Sequence[str] | None = None
    ) -> tuple[tuple[str, ...], NDArray[np.float64]]:
        if self.target == "domain":
            return domain_targets(y, len(prompts), known)
        return score_matrix(y, len(prompts), known, missing=self.missing_scores)

    def _statistics(
        self, prompts: list[str], targets: NDArray[np.float64], names: Sequence[str]
    ) -> SufficientStatistics:
        design: Design = "shared" if self.target == "domain" else "per_group"
        if self._uses_tokens:
            return token_statistics(
                self.featurizer_, prompts, targets, names, design=design,
                per_prompt_weight=self.target == "quality",
            )  # fmt: skip
        features = self.featurizer_.transform(prompts)
        return row_statistics(features, targets, names, design=design)

    def _expert_map(
        self,
        prompts: list[str],
        targets: NDArray[np.float64],
        groups: tuple[str, ...],
        scores: Any,
        experts: Sequence[str] | None,
    ) -> dict[str, str]:
        if self.expert_map is not None:
            return validate_expert_map(self.expert_map, groups)
        if scores is None:
            return self._mapped(groups)
        expert_names, matrix = score_matrix(scores, len(prompts), experts, missing="ignore")
        return learn_expert_map(targets, groups, matrix, expert_names)

    def _mapped(self, groups: Sequence[str]) -> dict[str, str]:
        """Domain → expert for new domains: from the `expert_map` setting, else the identity."""
        given = dict(self.expert_map or {})
        return {g: given.get(g, g) for g in groups}

    def _updates_online(self, names: Sequence[str]) -> bool:
        """Whether new rows for `names` can be folded in by rank-one steps (see `partial_fit`)."""
        return (
            self.target == "quality"
            and not self._uses_tokens
            and self.intercept == "centered"
            and not self._normalizes
            and float(self.alpha) > 0
            and tuple(names) == self.statistics_.names
        )

    def _online_update(self, prompts: list[str], targets: NDArray[np.float64]) -> IR3DERouter:
        """Fold rows into the statistics and the solution without re-solving (quality mode)."""
        online = self._online
        if online is None or online.alpha != float(self.alpha):
            online = RankOneRidge.from_statistics(self.statistics_, float(self.alpha))
        online.add_rows(self._row_features(prompts), targets)
        self._online = online
        self.statistics_ = online.statistics
        self.coef_, self.intercept_ = online.coef, online.intercept
        return self

    def _solve(self) -> IR3DERouter:
        solution = solve_statistics(
            self.statistics_,
            alpha=float(self.alpha),
            intercept=self.intercept,
            balance=self.balance,
            normalize=self._normalizes,
        )
        self.coef_, self.intercept_ = solution.coef, solution.intercept
        self._attach_scorer()
        return self

    def _attach_scorer(self) -> None:
        """Derive what routing reads on every call: expert names, the group → expert index and,
        for token featurizers, every vocabulary token's scores."""
        names = self.statistics_.names
        if self.target == "quality":
            self._experts: tuple[str, ...] = names
            self._group_expert: NDArray[np.intp] = np.arange(len(names))
        else:
            self._experts = tuple(dict.fromkeys(self.expert_map_[g] for g in names))
            self._group_expert = np.array([self._experts.index(self.expert_map_[g]) for g in names])
        self._token_scorer = None
        self._online = None
        if self._uses_tokens:
            solution = RidgeSolution(self.coef_, self.intercept_)
            self._token_scorer = TokenScorer(self.featurizer_.table, solution)  # type: ignore[attr-defined]

    def _group_scores(self, prompts: list[str]) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
        """Winning group and per-group scores: arrays of shape (n,) and (n, k)."""
        self._check_fitted()
        if self._token_scorer is not None:
            batch = TokenBatch.from_ids(self.featurizer_.token_ids(prompts))  # type: ignore[attr-defined]
            if self.aggregation == "vote":
                return self._token_scorer.vote(batch, self.entropy_top_k)
            scores = self._token_scorer.average(batch)
        else:
            scores = self._row_features(prompts) @ self.coef_ + self.intercept_
        return scores.argmax(axis=1), scores

    def _row_features(self, prompts: list[str]) -> NDArray[np.float64]:
        """One feature row per prompt, checked against the fitted width: shape (n, d)."""
        features = np.asarray(self.featurizer_.transform(prompts), dtype=np.float64)
        if features.shape[1] != self.n_features_in_:
            msg = (
                f"the featurizer gives {features.shape[1]} features but the router was fitted "
                f"on {self.n_features_in_}; use the featurizer the router was fitted with"
            )
            raise ValueError(msg)
        return features

    @property
    def _normalizes(self) -> bool:
        """Whether weight columns are scaled to unit norm (``"auto"``: in domain mode)."""
        return self.target == "domain" if self.normalize == "auto" else bool(self.normalize)

    @property
    def _votes(self) -> bool:
        return self._token_scorer is not None and self.aggregation == "vote"

    def _expert_scores(self, group_scores: NDArray[np.float64]) -> NDArray[np.float64]:
        """Per-expert scores, shape (n, n_experts): an expert's vote share is the sum over its
        domains; any other score is the best over its domains."""
        if self.target == "quality":
            return group_scores
        index = self._group_expert
        if self._votes:
            out = np.zeros((group_scores.shape[0], len(self.experts_)))
            np.add.at(out.T, index, group_scores.T)
            return out
        out = np.full((group_scores.shape[0], len(self.experts_)), -np.inf)
        np.maximum.at(out.T, index, group_scores.T)
        return out

    def _explain(self, prompt: str, g: int, top: int) -> tuple[Contribution, ...]:
        """Pieces of the prompt that most favour group g over the best other group."""
        if self._token_scorer is not None:
            ids = self.featurizer_.token_ids([prompt])[0]  # type: ignore[attr-defined]
            units = self.featurizer_.token_strings(ids)  # type: ignore[attr-defined]
            margins = token_margins(self._token_scorer.scores[ids], g)
        else:
            units, margins = occlusion_margins(prompt, g, lambda t: self._group_scores(t)[1])
        return top_contributions(units, margins, top)
