"""`IR3DERouter`: a closed-form ridge router over prompt features (scikit-learn estimator).

The estimator is thin: a fit is `FitSpec` (featurize a part → statistics → sum → solve) and a
decision is `RoutedState.score` followed by the `RoutingPolicy`. Its fitted state is one
immutable `RoutedState`, replaced in one assignment (writers serialised by a lock), so threads
may route while another thread adds experts or folds in feedback.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from ir3de_core.decision import RoutingDecision
from ir3de_core.exceptions import ExpertError
from ir3de_core.featurizers import Featurizer, validate_texts
from ir3de_core.fitting import FitSpec
from ir3de_core.online import RankOneRidge
from ir3de_core.parts import DocumentFrequencies, FitPart
from ir3de_core.persistence import load_router, save_router
from ir3de_core.policy import RoutingPolicy
from ir3de_core.settings import Aggregation, InterceptMode, MissingScores, RouterSettings, Target
from ir3de_core.solver import RidgeSolution
from ir3de_core.state import RoutedState
from ir3de_core.statistics import SufficientStatistics
from ir3de_core.targets import score_matrix

__all__ = ["Aggregation", "IR3DERouter", "Target"]

_LOCKS = threading.Lock()  # guards the lazy creation of each router's writer lock


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
        policy: how scores become decisions (`RoutingPolicy` or its dict); None: the best score.
            A fitted router's policy is `policy_`; change it with `set_policy`.
    """

    state_: RoutedState
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
        policy: RoutingPolicy | Mapping[str, Any] | None = None,
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
        self.policy = policy

    # ================================================================== fitting
    @property
    def settings(self) -> RouterSettings:
        """The current settings, validated (raises ValueError naming a bad one)."""
        return RouterSettings.from_params(self.get_params(deep=False))

    def fit_spec(
        self,
        prompts: Sequence[str] | None = None,
        *,
        frequencies: DocumentFrequencies | None = None,
    ) -> FitSpec:
        """The `FitSpec` of a fit with these settings; a featurizer that learns from data is
        fitted on `prompts` (or streamed `frequencies`). The router is not changed."""
        return FitSpec.prepare(
            self.settings, self.featurizer, prompts=prompts, frequencies=frequencies
        )

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
        spec = self.fit_spec(prompts)
        return self.fit_part(spec.part(prompts, y, scores=scores, experts=experts), spec)

    def fit_part(self, part: FitPart, spec: FitSpec) -> IR3DERouter:
        """Fit from a complete `FitPart` computed with `spec` (see `fit_spec`): the end of the
        streaming and Dask fits, whose parts were summed elsewhere."""
        state = spec.solve(part, policy=self._initial_policy())
        with self._writing():
            self._publish(state)
        return self

    def fit_statistics(
        self, statistics: SufficientStatistics, *, expert_map: Mapping[str, str] | None = None
    ) -> IR3DERouter:
        """Fit from precomputed statistics (e.g. summed over machines) with a ready featurizer."""
        spec = self.fit_spec()
        if self.target == "domain" and expert_map is None:
            expert_map = spec.new_domains(statistics.names)
        state = spec.solve_statistics(statistics, expert_map, policy=self._initial_policy())
        with self._writing():
            self._publish(state)
        return self

    def compute_statistics(self, X: Sequence[str], y: Any) -> SufficientStatistics:
        """Statistics of (X, y) with this router's settings and featurizer; changes nothing.

        Used to fit on many machines: the sum of the parts equals the statistics of the whole.
        A fitted router uses its fitted featurizer, an unfitted one a featurizer that needs no
        fitting.
        """
        prompts = validate_texts(X)
        spec = self._update_spec() if hasattr(self, "state_") else self.fit_spec()
        names, targets = spec.targets(prompts, y)
        return spec.statistics(prompts, targets, names)

    def partial_fit(self, X: Sequence[str], y: Any) -> IR3DERouter:
        """Add more data (new domains or experts included) and re-solve; fits if not fitted.

        Feedback events fit here too: ``partial_fit([prompt], [{expert: observed_score}])``.
        In quality mode with row features (``sentence``, ``hashing``, ``openai``, pooled
        ``tokens``), the default centred intercept and no column normalisation, known experts
        are updated by rank-one (Sherman–Morrison) steps: O(d²) per event instead of k solves
        of d×d, with the same weights. The sums of `statistics_` are then updated in place
        (``copy.copy(router)`` gives a router that does not share them).
        """
        if not hasattr(self, "state_"):
            return self.fit(X, y)
        prompts = validate_texts(X)
        with self._writing():
            state, spec = self.state_, self._update_spec()
            names, targets = spec.targets(prompts, y, known=state.statistics.names)
            if self._updates_online(spec, state, names):
                return self._online_update(spec, state, prompts, targets)
            self._add_statistics(spec, state, spec.statistics(prompts, targets, names))
        return self

    def add_part(self, part: FitPart) -> IR3DERouter:
        """Add a part computed with this router's fitted featurizer (e.g. summed on Dask) and
        re-solve, as `partial_fit` would on its records."""
        if part.statistics is None:
            return self
        with self._writing():
            self._add_statistics(self._update_spec(), self._fitted_state(), part.statistics)
        return self

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
        prompts = validate_texts(X)
        with self._writing():
            state, spec = self._fitted_state(), self._update_spec()
            if state.expert_map is not None:
                names, targets = spec.targets(prompts, [name] * len(prompts))
            elif y is None:
                msg = (
                    "quality mode needs the new expert's scores: add_expert(name, prompts, scores)"
                )
                raise ValueError(msg)
            else:
                names, targets = score_matrix(
                    np.asarray(y, dtype=np.float64), len(prompts), [name],
                    missing=spec.settings.missing_scores,
                )  # fmt: skip
            stats = state.statistics.add_expert(spec.statistics(prompts, targets, names))
            mapping = None
            if state.expert_map is not None:
                mapping = {**state.expert_map, name: expert or name}
            self._publish(self._resolve(spec, stats, mapping, state))
        return self

    def remove_expert(self, name: str) -> IR3DERouter:
        """Remove an expert (with every domain routed to it) or one domain, without refitting."""
        with self._writing():
            state = self._fitted_state()
            mapping = state.expert_map
            if mapping is None or name in state.statistics.names:
                groups = [name] if name in state.statistics.names else []
            else:
                groups = [g for g, e in mapping.items() if e == name]
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
            self._publish(self._resolve(self._update_spec(), stats, mapping, state))
        return self

    # ================================================================== deciding
    def set_policy(self, policy: RoutingPolicy | Mapping[str, Any] | None) -> IR3DERouter:
        """Decide with `policy` from now on (no refit); it is saved with the router."""
        resolved = _as_policy(policy)
        self.policy = policy
        if hasattr(self, "state_"):
            with self._writing():
                self._publish(self.state_.replace(policy=resolved), self._online)
        return self

    def decision_function(self, X: Sequence[str]) -> NDArray[np.float64]:
        """Per-expert scores (higher is better): array of shape (n_prompts, n_experts)."""
        state = self._fitted_state()
        return state.expert_scores(state.group_scores(validate_texts(X))[1])

    def predict(self, X: Sequence[str]) -> NDArray[np.object_]:
        """The chosen expert of each prompt, by the router's policy: shape (n_prompts,)."""
        prompts = validate_texts(X)
        state = self._fitted_state()
        table = state.score(prompts, state.policy.costs(prompts, state.experts))
        return np.asarray(state.experts, dtype=object)[state.policy.choose(table).index]

    def predict_domain(self, X: Sequence[str]) -> NDArray[np.object_]:
        """Domain mode: the predicted domain of each prompt, shape (n_prompts,)."""
        if self.target != "domain":
            msg = "predict_domain needs target='domain'; use predict() in quality mode"
            raise ValueError(msg)
        state = self._fitted_state()
        winners, _ = state.group_scores(validate_texts(X))
        return np.array([state.groups[g] for g in winners], dtype=object)

    def route(
        self,
        X: Sequence[str],
        *,
        explain: bool = False,
        top: int = 5,
        policy: RoutingPolicy | None = None,
        available: Collection[str] | None = None,
        forced: str | None = None,
        costs: ArrayLike | None = None,
    ) -> list[RoutingDecision]:
        """Route each prompt: the chosen expert, the rule that chose it and every expert's numbers.

        Args:
            X: n prompts.
            explain: attach the `top` contributing tokens or words of each prompt.
            top: number of contributions to keep when explaining.
            policy: decide with this policy instead of the router's (`policy_`).
            available: choose only among these experts (e.g. those that are up).
            forced: send every prompt to this expert (the decision still has every score).
            costs: array of shape (n, k), each expert's cost per prompt (default: the
                policy's prices).
        """
        prompts = validate_texts(X)
        state = self._fitted_state()
        active = policy if policy is not None else state.policy
        priced = active.costs(prompts, state.experts) if costs is None else np.asarray(costs)
        decisions = active.decide(state.score(prompts, priced), available=available, forced=forced)
        if explain:
            decisions = [
                replace(d, explanation=state.explain(p, d.expert, top))
                for p, d in zip(prompts, decisions, strict=True)
            ]
        return decisions

    def explain(self, prompt: str, *, top: int = 5) -> RoutingDecision:
        """Route one prompt and say which tokens (or words) pushed it to its expert."""
        return self.route([prompt], explain=True, top=top)[0]

    # ================================================================== persistence
    def save(self, directory: str | Path) -> Path:
        """Write ``arrays.npz`` and ``router.json`` to `directory` (no pickle)."""
        with self._writing():
            state = self._fitted_state()
            return save_router(Path(directory), state, _policy_param(self.policy))

    @classmethod
    def load(cls, directory: str | Path) -> IR3DERouter:
        """Load a router written by `save`, validating versions, shapes, dtypes and checksums."""
        state, policy = load_router(Path(directory))
        router = cls(state.featurizer.get_config(), **state.settings.to_json(), policy=policy)
        router.state_ = state
        return router

    def __copy__(self) -> IR3DERouter:
        """A shallow copy with its own lock that shares nothing `partial_fit` updates in place."""
        out = self.__class__.__new__(self.__class__)
        out.__dict__.update(self.__getstate__())
        if self._online is not None:
            state = self.state_
            out.state_ = state.replace(statistics=state.statistics.copy())
        return out

    def __getstate__(self) -> dict[str, Any]:
        """Pickling and copying leave out the writer lock and the online updater."""
        return {k: v for k, v in self.__dict__.items() if k not in ("_lock", "_online")}

    # ================================================================== fitted properties
    @property
    def coef_(self) -> NDArray[np.float64]:
        """Ridge weights: array of shape (d, k_groups)."""
        return self._fitted_state().solution.coef

    @property
    def intercept_(self) -> NDArray[np.float64]:
        """Ridge intercepts: array of shape (k_groups,)."""
        return self._fitted_state().solution.intercept

    @property
    def statistics_(self) -> SufficientStatistics:
        """The sufficient statistics of everything the router was fitted on."""
        return self._fitted_state().statistics

    @property
    def featurizer_(self) -> Featurizer:
        """The fitted featurizer."""
        return self._fitted_state().featurizer

    @property
    def expert_map_(self) -> dict[str, str]:
        """Domain mode: domain → expert."""
        mapping = self._fitted_state().expert_map
        if mapping is None:
            msg = "expert_map_ exists in domain mode only (target='domain')"
            raise AttributeError(msg)
        return dict(mapping)

    @property
    def policy_(self) -> RoutingPolicy:
        """The policy decisions are made with."""
        return self._fitted_state().policy

    @property
    def prior_(self) -> str | None:
        """The best expert without looking at the prompt (the best single expert)."""
        return self._fitted_state().prior

    @property
    def groups_(self) -> tuple[str, ...]:
        """Columns of the regression: domains (domain mode) or experts (quality mode)."""
        return self._fitted_state().groups

    @property
    def experts_(self) -> tuple[str, ...]:
        """Expert names, in score order."""
        return self._fitted_state().experts

    @property
    def n_features_in_(self) -> int:
        """Feature width d."""
        return self._fitted_state().statistics.n_features

    # ================================================================== internals
    def _fitted_state(self) -> RoutedState:
        state = self.__dict__.get("state_")
        if state is None:
            msg = (
                "this IR3DERouter is not fitted yet; call fit(prompts, y) or IR3DERouter.load(dir)"
            )
            raise NotFittedError(msg)
        return state

    def _initial_policy(self) -> RoutingPolicy:
        return _as_policy(self.policy)

    def _update_spec(self) -> FitSpec:
        """The spec of an update: the current settings with the fitted featurizer."""
        return FitSpec(self.settings, self._fitted_state().featurizer)

    def _add_statistics(
        self, spec: FitSpec, state: RoutedState, statistics: SufficientStatistics
    ) -> None:
        """Publish the state of the router's statistics plus `statistics` (new domains go to
        the expert the ``expert_map`` setting names, else to themselves)."""
        stats = state.statistics + statistics
        mapping = None
        if state.expert_map is not None:
            mapping = {**spec.new_domains(stats.names), **state.expert_map}
        self._publish(self._resolve(spec, stats, mapping, state))

    def _resolve(
        self,
        spec: FitSpec,
        stats: SufficientStatistics,
        mapping: Mapping[str, str] | None,
        state: RoutedState,
    ) -> RoutedState:
        """Solve updated statistics, keeping the policy (and the prior while it stays valid)."""
        prior = state.prior if mapping is not None else None
        return spec.solve_statistics(stats, mapping, policy=state.policy, prior=prior)

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Serialise writers (fits, updates, saves); readers never wait."""
        lock = self.__dict__.get("_lock")
        if lock is None:
            with _LOCKS:
                lock = self.__dict__.setdefault("_lock", threading.RLock())
        with lock:
            yield

    def _publish(self, state: RoutedState, online: RankOneRidge | None = None) -> None:
        """Make `state` the routed state, in one assignment."""
        self._online = online
        self.state_ = state

    def _updates_online(self, spec: FitSpec, state: RoutedState, names: Sequence[str]) -> bool:
        """Whether new rows for `names` can be folded in by rank-one steps (see `partial_fit`)."""
        settings = spec.settings
        return (
            settings.target == "quality"
            and not spec.uses_tokens
            and settings.intercept == "centered"
            and not settings.normalizes
            and settings.alpha > 0
            and tuple(names) == state.statistics.names
        )

    def _online_update(
        self,
        spec: FitSpec,
        state: RoutedState,
        prompts: list[str],
        targets: NDArray[np.float64],
    ) -> IR3DERouter:
        """Fold rows into the statistics and the solution without re-solving (quality mode)."""
        online = self._online
        if online is None or online.alpha != spec.settings.alpha:
            online = RankOneRidge.from_statistics(state.statistics, spec.settings.alpha)
        online.add_rows(state.row_features(prompts), targets)
        solution = RidgeSolution(online.coef.copy(), online.intercept.copy())
        stats = online.statistics
        prior = FitSpec.prior(stats, None)
        self._publish(
            state.replace(settings=spec.settings, statistics=stats, solution=solution, prior=prior),
            online,
        )
        return self


def _as_policy(policy: RoutingPolicy | Mapping[str, Any] | None) -> RoutingPolicy:
    if policy is None:
        return RoutingPolicy()
    if isinstance(policy, RoutingPolicy):
        return policy
    return RoutingPolicy.from_dict(policy)


def _policy_param(policy: RoutingPolicy | Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if policy is None else _as_policy(policy).to_dict()
