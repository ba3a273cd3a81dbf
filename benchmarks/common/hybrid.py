"""`DomainQualityRouter`: domain probabilities combined with per-domain expert-quality regressions.

Domain routing alone can at best send every prompt of a domain to that domain's best expert (the
"task oracle"). To beat it a router needs per-prompt signal: inside each domain, one ridge
regression per expert predicts that expert's score on the prompt. The router then picks

    argmax_j  Σ_d p(d | x) · (μ_dj + w_djᵀ (x − x̄_d))

where p(d | x) comes from an IR3DE domain router and μ_dj is expert j's mean score on domain d.
With a large penalty the regression term vanishes and the router falls back to the task oracle,
so the penalty tunes how much per-prompt signal to trust. Everything is closed form: both parts
are `IR3DERouter`s, so experts are added or removed from sufficient statistics without a refit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import softmax
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from ir3de_core.exceptions import ExpertError
from ir3de_core.featurizers import Featurizer, make_featurizer, validate_texts
from ir3de_core.fit.targets import score_matrix
from ir3de_core.router import IR3DERouter

__all__ = ["DomainQualityRouter"]


class DomainQualityRouter(BaseEstimator):
    """Route by expected quality: domain probabilities times per-domain expert regressions.

    Args:
        domain_router: an unfitted `IR3DERouter` (target ``"domain"``) used as the domain
            classifier; None uses ``IR3DERouter("tokens", aggregation="average")``.
        quality_featurizer: features of the per-domain quality regressions (a name, config dict
            or instance); ``"tokens"`` means the mean token embedding (no forward pass).
        alpha: ridge penalty λ of the quality regressions (large λ → the task oracle).
        temperature: softmax temperature over the domain scores; None uses the hard argmax
            domain (one regression per prompt).
    """

    def __init__(
        self,
        domain_router: IR3DERouter | None = None,
        *,
        quality_featurizer: str | dict[str, Any] | Featurizer = "tokens",
        alpha: float = 1.0,
        temperature: float | None = None,
    ) -> None:
        self.domain_router = domain_router
        self.quality_featurizer = quality_featurizer
        self.alpha = alpha
        self.temperature = temperature

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        X: Sequence[str],
        domains: Sequence[str],
        scores: Any,
        *,
        experts: Sequence[str] | None = None,
    ) -> DomainQualityRouter:
        """Fit the domain classifier and one quality regression per domain.

        Args:
            X: n prompts.
            domains: n domain labels.
            scores: per-expert scores: array of shape (n, k) named by `experts`, or n mappings.
            experts: names of the score columns when `scores` is an array.
        """
        prompts = validate_texts(X)
        labels = np.asarray(list(domains), dtype=object)
        if labels.shape != (len(prompts),):
            msg = f"expected {len(prompts)} domain labels (one per prompt), got {labels.shape[0]}"
            raise ValueError(msg)
        names, matrix = score_matrix(scores, len(prompts), experts)
        self._validate_params()
        self.domains_ = tuple(dict.fromkeys(str(d) for d in labels))
        router = self.domain_router or IR3DERouter("tokens", aggregation="average")
        own_experts = {d: d for d in self.domains_}  # every domain is a column of p(d | x)
        settings = {**router.get_params(deep=False), "expert_map": own_experts}
        self.domain_router_ = type(router)(**settings).fit(prompts, labels.tolist())
        featurizer = make_featurizer(self.quality_featurizer)
        self.quality_routers_: dict[str, IR3DERouter] = {}
        for domain in self.domains_:
            rows = np.flatnonzero(labels == domain)
            quality = IR3DERouter(
                featurizer, target="quality", aggregation="pooled", alpha=self.alpha
            )
            named = [dict(zip(names, matrix[i].tolist(), strict=True)) for i in rows]
            quality.fit([prompts[i] for i in rows], named)
            self.quality_routers_[domain] = quality
        return self._stack()

    def add_expert(
        self, name: str, X: Sequence[str], domains: Sequence[str], scores: Any
    ) -> DomainQualityRouter:
        """Add an expert from its scores on prompts of every known domain (no refit of others).

        Args:
            name: the new expert.
            X: m prompts the expert was scored on.
            domains: m domain labels (each known domain needs at least one prompt).
            scores: array of shape (m,), the expert's scores.
        """
        self._check_fitted()
        prompts = validate_texts(X)
        labels = np.asarray(list(domains), dtype=object)
        values = np.asarray(scores, dtype=np.float64)
        if labels.shape != (len(prompts),) or values.shape != (len(prompts),):
            msg = f"expected {len(prompts)} domain labels and {len(prompts)} scores"
            raise ValueError(msg)
        missing = [d for d in self.domains_ if not (labels == d).any()]
        if missing:
            msg = f"add_expert needs scores of {name!r} on every domain; none for {missing}"
            raise ValueError(msg)
        for domain, quality in self.quality_routers_.items():
            rows = np.flatnonzero(labels == domain)
            quality.add_expert(name, [prompts[i] for i in rows], values[rows])
        return self._stack()

    def remove_expert(self, name: str) -> DomainQualityRouter:
        """Remove an expert from every domain's regression."""
        self._check_fitted()
        if name not in self.experts_:
            msg = f"unknown expert {name!r}; known experts: {list(self.experts_)}"
            raise ExpertError(msg)
        for quality in self.quality_routers_.values():
            quality.remove_expert(name)
        return self._stack()

    # ------------------------------------------------------------------ prediction
    def domain_probabilities(self, X: Sequence[str]) -> NDArray[np.float64]:
        """p(domain | prompt): array of shape (n_prompts, n_domains), columns in `domains_`."""
        self._check_fitted()
        scores = self.domain_router_.decision_function(X)
        order = [self.domain_router_.experts_.index(d) for d in self.domains_]
        scores = scores[:, order]
        if self.temperature is None:
            hard = np.zeros_like(scores)
            hard[np.arange(scores.shape[0]), scores.argmax(axis=1)] = 1.0
            return hard
        return np.asarray(softmax(scores / self.temperature, axis=1))

    def decision_function(self, X: Sequence[str]) -> NDArray[np.float64]:
        """Expected score of each expert: array of shape (n_prompts, n_experts)."""
        prompts = validate_texts(X)
        p = self.domain_probabilities(prompts)
        features = np.asarray(self.featurizer_.transform(prompts), dtype=np.float64)
        per_domain = np.einsum("nf,Dfk->nDk", features, self.coef_) + self.intercept_[None]
        return np.asarray(np.einsum("nD,nDk->nk", p, per_domain))

    def predict(self, X: Sequence[str]) -> NDArray[np.object_]:
        """The chosen expert of each prompt: array of shape (n_prompts,)."""
        best = self.decision_function(X).argmax(axis=1)
        return np.array([self.experts_[j] for j in best], dtype=object)

    def predict_domain(self, X: Sequence[str]) -> NDArray[np.object_]:
        """The most probable domain of each prompt: array of shape (n_prompts,)."""
        best = self.domain_probabilities(X).argmax(axis=1)
        return np.array([self.domains_[g] for g in best], dtype=object)

    # ------------------------------------------------------------------ internals
    def _validate_params(self) -> None:
        if not (isinstance(self.alpha, int | float) and self.alpha >= 0):
            msg = f"alpha must be a number ≥ 0, got {self.alpha!r}"
            raise ValueError(msg)
        if self.temperature is not None and self.temperature <= 0:
            msg = f"temperature must be > 0 or None (hard domains), got {self.temperature}"
            raise ValueError(msg)
        if self.domain_router is not None and self.domain_router.target != "domain":
            msg = "domain_router must be an IR3DERouter with target='domain'"
            raise ValueError(msg)

    def _check_fitted(self) -> None:
        if not hasattr(self, "quality_routers_"):
            msg = "this DomainQualityRouter is not fitted yet; call fit(prompts, domains, scores)"
            raise NotFittedError(msg)

    def _stack(self) -> DomainQualityRouter:
        """Gather every domain's solution into coef_ (D, d, k) and intercept_ (D, k)."""
        routers = [self.quality_routers_[d] for d in self.domains_]
        self.experts_: tuple[str, ...] = routers[0].experts_
        self.featurizer_ = routers[0].featurizer_
        order = [[r.experts_.index(e) for e in self.experts_] for r in routers]
        self.coef_ = np.stack([r.coef_[:, o] for r, o in zip(routers, order, strict=True)])
        self.intercept_ = np.stack([r.intercept_[o] for r, o in zip(routers, order, strict=True)])
        return self

    @property
    def expert_means_(self) -> Mapping[str, dict[str, float]]:
        """Mean score of each expert per domain (the regressions' intercept at the domain mean)."""
        self._check_fitted()
        out = {}
        for domain, router in self.quality_routers_.items():
            stats = router.statistics_
            out[domain] = {
                e: float(stats.sum_y[j] / max(stats.weight[j], 1e-12))
                for j, e in enumerate(stats.names)
            }
        return out
