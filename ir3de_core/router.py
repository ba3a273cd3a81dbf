"""`IR3DERouter`: a closed-form ridge router over prompt features (scikit-learn estimator).

The estimator is thin: a fit is `FitSpec` (featurize a part → statistics → sum → solve) and a
decision is `RoutedState.score` followed by the `RoutingPolicy`. Its fitted state is one
immutable `RoutedState`, replaced in one assignment (writers serialised by a lock), so threads
may route while another thread adds experts or folds in feedback.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator

from ir3de_core.decide.decision import RoutingDecision
from ir3de_core.decide.policy import RoutingPolicy
from ir3de_core.featurizers import Featurizer, validate_texts
from ir3de_core.fit.featurizer_choice import AUTO, fit_auto
from ir3de_core.fit.parts import DocumentFrequencies, FitPart
from ir3de_core.fit.spec import FitSpec
from ir3de_core.persistence.router_file import load_router, save_router
from ir3de_core.ridge.statistics import SufficientStatistics
from ir3de_core.router_updates import RouterUpdates
from ir3de_core.settings import Aggregation, InterceptMode, MissingScores, RouterSettings, Target

__all__ = ["Aggregation", "IR3DERouter", "Target"]


class IR3DERouter(RouterUpdates, BaseEstimator):
    """Route prompts to expert LLMs with a ridge regression solved in closed form.

    Args:
        featurizer: ``"tokens"`` (the paper's per-token embedding rows), ``"sentence"``,
            ``"sentence-rff"`` (random Fourier features of the sentence embedding: an RBF
            kernel), ``"hashing"``, ``"openai"``, a config dict ``{"kind": ..., **settings}``,
            an instance, or ``"auto"``: every installed featurizer fitted, the best by the fit's
            own cross-validation kept (`fit` only; see `ir3de_core.fit.featurizer_choice`).
        target: ``"domain"`` (one-hot domain labels; the paper) or ``"quality"`` (regress each
            expert's score and route to the highest prediction).
        aggregation: for token featurizers, ``"vote"`` (majority of token argmaxes; domain mode),
            ``"average"`` (argmax of the mean token score), ``"pooled"`` (one mean-pooled row per
            prompt), or ``"auto"`` (the default: chosen by cross-validation).
        entropy_top_k: with ``vote``, only the k tokens whose score distribution has the lowest
            entropy vote; None lets every token vote.
        alpha: ridge penalty λ, or ``"auto"`` (the default): chosen by k-fold cross-validation
            from per-fold statistics, by what routing achieves on the held-out prompts, among a
            log grid scaled to the data and "no prompt signal" (every prompt to the best single
            expert, ``alpha_ = inf``). ``inf`` ignores the prompt.
        intercept: ``"centered"`` (unpenalised, as scikit-learn), ``"penalized"`` (the paper's bias
            column inside the penalty) or ``"none"``.
        normalize: scale each expert's weight column to unit norm; ``"auto"`` does so in domain
            mode (the paper) and not in quality mode (where scores are predicted qualities).
        balance: in domain mode, weight domains so each counts equally whatever its prompt lengths.
        expert_map: domain → expert; None learns it from per-expert scores when given, else each
            domain is its own expert.
        missing_scores: ``"raise"`` on NaN/missing quality scores, or ``"ignore"`` to leave them out
            of that expert's fit (with a warning that counts them).
        confidence_temperature: softmax temperature turning scores into a confidence (non-vote);
            ``"auto"`` (default) fits it by cross-validation so that confidences are calibrated
            (the held-out outcomes' likelihood is highest), 0.1 when too few prompts to fold.
        cv: folds of the cross-validation that chooses the ``"auto"`` settings.
        safe_default: choose by cross-validation a confidence threshold below which a prompt goes
            to the best single expert (or the policy's default), when that does better on the
            held-out prompts; stored in the router's policy. ``"novelty"`` also chooses a
            novelty threshold (`RoutingDecision.novelty`) above which a prompt goes there, by
            k-fold and leave-one-domain-out held-out prompts. Not the default: on RouterDC's
            leave-one-task-out it cost 0.5 points (docs/benchmarks.md).
        policy: how scores become decisions (`RoutingPolicy` or its dict); None: the best score.
            A fitted router's policy is `policy_`; change it with `set_policy`.
    """

    def __init__(
        self,
        featurizer: str | dict[str, Any] | Featurizer = "tokens",
        *,
        target: Target = "domain",
        aggregation: Aggregation = "auto",
        entropy_top_k: int | None = None,
        alpha: float | Literal["auto"] = "auto",
        intercept: InterceptMode = "centered",
        normalize: bool | Literal["auto"] = "auto",
        balance: bool = True,
        expert_map: Mapping[str, str] | None = None,
        missing_scores: MissingScores = "raise",
        confidence_temperature: float | Literal["auto"] = "auto",
        cv: int = 5,
        safe_default: bool | Literal["novelty"] = True,
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
        self.cv = cv
        self.safe_default = safe_default
        self.policy = policy

    # ================================================================== fitting
    @property
    def settings(self) -> RouterSettings:
        """The current settings, validated (raises ValueError naming a bad one)."""
        # get_params(deep=False) without scikit-learn re-reading __init__'s signature on every
        # call (~1 ms: each folded feedback event asks for the settings)
        return RouterSettings.from_params({n: getattr(self, n) for n in _param_names(type(self))})

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
        costs: Any = None,
    ) -> IR3DERouter:
        """Fit from prompts and targets, choosing the ``"auto"`` settings by cross-validation.

        Args:
            X: n prompts.
            y: domain mode: n domain labels. Quality mode: per-expert scores, an array of shape
                (n, k) (columns named by `experts`), a DataFrame, or n mappings {expert: score}.
            scores: domain mode only: per-expert scores (same forms as quality `y`) from which the
                expert of each domain is learned when `expert_map` is None, and by which the
                ``"auto"`` settings are chosen.
            experts: names of the score columns when scores are given as an array.
            costs: each expert's cost per prompt (same forms as scores): quality mode then
                chooses α by the held-out cost–quality curve (AIQ) instead of quality alone.
        """
        prompts = validate_texts(X)
        if isinstance(self.featurizer, str) and self.featurizer == AUTO:
            state = fit_auto(self.settings, prompts, y, policy=self._initial_policy(),
                             scores=scores, experts=experts, costs=costs)  # fmt: skip
            with self._writing():
                self._publish(state)
            return self
        spec = self.fit_spec(prompts)
        part = spec.part(prompts, y, scores=scores, experts=experts, costs=costs)
        return self.fit_part(part, spec)

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
        spec = self.update_spec() if hasattr(self, "state_") else self.fit_spec()
        names, targets = spec.targets(prompts, y)
        return spec.statistics(prompts, targets, names)

    def transform(self, X: Sequence[str]) -> NDArray[np.float64]:
        """The feature rows the router scores (row featurizers): array of shape (n, d)."""
        state = self._fitted_state()
        if state.uses_tokens:
            msg = "a token router scores token rows, not one row per prompt; no rows to give"
            raise ValueError(msg)
        return state.row_features(validate_texts(X))

    # ================================================================== deciding
    def set_policy(self, policy: RoutingPolicy | Mapping[str, Any] | None) -> IR3DERouter:
        """Decide with `policy` from now on (no refit); it is saved with the router."""
        resolved = RoutingPolicy.of(policy)
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
        table = state.score(prompts, priced, spread=active.explore is not None and forced is None)
        decisions = active.decide(table, available=available, forced=forced)
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
    def save(self, directory: str | Path, *, signing_key: bytes | None = None) -> Path:
        """Write ``arrays.npz`` and ``router.json`` to `directory` (no pickle).

        Args:
            directory: the router's folder (created if needed).
            signing_key: sign the file so that ``load(..., signing_key=...)`` can prove it is
                yours (HMAC-SHA256); without it the checksum only detects corruption.
        """
        with self._writing():
            state = self._fitted_state()
            return save_router(
                Path(directory), state, _policy_json(self.policy),
                router_params=self.settings.to_json(), signing_key=signing_key,
            )  # fmt: skip

    @classmethod
    def load(
        cls,
        directory: str | Path,
        *,
        featurizer_options: Mapping[str, Any] | None = None,
        signing_key: bytes | None = None,
    ) -> IR3DERouter:
        """Load a router written by `save`, validating versions, shapes, dtypes, checksums and
        the weights against the statistics. The file is data: it never names a host, a
        credential or a path (see docs/security.md).

        Args:
            directory: the router's folder.
            featurizer_options: what only the caller decides: an ``openai`` featurizer's
                ``base_url``, ``api_key_env`` and ``cache_dir``, or the ``model`` directory of a
                ``tokens``/``sentence`` featurizer fitted with a local model.
            signing_key: refuse the router unless it was saved with this key.

        Raises:
            ModelFileError: the folder does not hold a valid router (the message says why).
        """
        state, policy, settings = load_router(
            Path(directory), featurizer_options=featurizer_options, signing_key=signing_key
        )
        router = cls(state.featurizer.get_config(), **settings.to_json(), policy=policy)
        router.state_ = state
        return router

    # ================================================================== internals
    def _initial_policy(self) -> RoutingPolicy:
        return RoutingPolicy.of(self.policy)


def _policy_json(policy: RoutingPolicy | Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if policy is None else RoutingPolicy.of(policy).to_dict()


_PARAM_NAMES: dict[type, tuple[str, ...]] = {}


def _param_names(cls: type[IR3DERouter]) -> tuple[str, ...]:
    """The constructor's parameters (what ``get_params`` lists), read once per class."""
    names = _PARAM_NAMES.get(cls)
    if names is None:
        names = _PARAM_NAMES[cls] = tuple(cls._get_param_names())
    return names
