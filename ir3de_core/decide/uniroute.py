"""UniRoute: route to LLMs never seen in training by their errors on clusters of prompts.

After "Universal Model Routing for Efficient LLM Inference" (Jitkrittum et al., 2025): K-means
clusters the training prompts' embeddings, without labels. An LLM is described by its mean error
on each cluster, measured on a small labelled set of representative prompts; a prompt's predicted
error for that LLM is the error of its cluster (hard assignment) or the cluster errors averaged
by soft cluster probabilities. Adding an LLM only needs its scores on those prompts: nothing is
retrained. `route` decides through a `RoutingPolicy` (quality − λ·cost, thresholds, defaults).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import softmax
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans
from sklearn.exceptions import NotFittedError

from ir3de_core.decide.decision import ExpertScores, RoutingDecision
from ir3de_core.decide.policy import RoutingPolicy
from ir3de_core.exceptions import ExpertError
from ir3de_core.featurizers import Featurizer, make_featurizer, validate_texts

__all__ = ["UniRouteRouter"]

FloatArray = NDArray[np.float64]
Assignment = Literal["hard", "soft"]


class UniRouteRouter(BaseEstimator):
    """Cluster-error router that takes in new LLMs from a few scored prompts.

    Args:
        featurizer: prompt featurizer (name, config dict or instance), default ``"sentence"``.
        n_clusters: K, the number of K-means clusters.
        assignment: ``"hard"`` (the prompt's cluster) or ``"soft"`` (softmax over −distance²/τ).
        temperature: τ of the soft assignment; None uses the training prompts' mean squared
            distance to their nearest centroid.
        prior_strength: a cluster's mean error is shrunk towards the LLM's overall mean error as
            if this many extra prompts had the overall mean (steadies clusters with few labels).
        random_state: seed of K-means.
    """

    def __init__(
        self,
        featurizer: str | dict[str, Any] | Featurizer = "sentence",
        *,
        n_clusters: int = 20,
        assignment: Assignment = "hard",
        temperature: float | None = None,
        prior_strength: float = 2.0,
        random_state: int = 0,
    ) -> None:
        self.featurizer = featurizer
        self.n_clusters = n_clusters
        self.assignment = assignment
        self.temperature = temperature
        self.prior_strength = prior_strength
        self.random_state = random_state

    def fit(
        self, X: Sequence[str], scores: ArrayLike | None = None, *, experts: Sequence[str] = ()
    ) -> UniRouteRouter:
        """Cluster the training prompts; optionally describe LLMs scored on them.

        Args:
            X: n training prompts (no labels needed for the clusters).
            scores: array of shape (n, k), the scores of `experts` on X (NaN: unscored).
            experts: the k LLM names of the columns of `scores`.
        """
        if self.assignment not in ("hard", "soft"):
            msg = f"assignment must be 'hard' or 'soft', got {self.assignment!r}"
            raise ValueError(msg)
        prompts = validate_texts(X)
        if len(prompts) < self.n_clusters:
            msg = f"need at least n_clusters={self.n_clusters} prompts, got {len(prompts)}"
            raise ValueError(msg)
        self.featurizer_ = make_featurizer(self.featurizer)
        features = np.asarray(self.featurizer_.transform(prompts), dtype=np.float64)
        kmeans = KMeans(self.n_clusters, n_init=4, random_state=self.random_state).fit(features)
        self.centroids_: FloatArray = kmeans.cluster_centers_
        nearest = ((features - self.centroids_[kmeans.labels_]) ** 2).sum(axis=1)
        self.temperature_ = float(self.temperature or max(float(nearest.mean()), 1e-12))
        self.errors_: FloatArray = np.zeros((0, self.n_clusters))
        self.llms_: tuple[str, ...] = ()
        if scores is not None:
            matrix = np.asarray(scores, dtype=np.float64)
            if matrix.shape != (len(prompts), len(experts)):
                msg = f"scores must have shape ({len(prompts)}, {len(experts)}), got {matrix.shape}"
                raise ValueError(msg)
            probabilities = self._probabilities(features)
            for j, name in enumerate(experts):
                self._add_profile(name, probabilities, matrix[:, j])
        return self

    @property
    def experts_(self) -> tuple[str, ...]:
        """The LLMs the router knows, in column order."""
        self._check_fitted()
        return self.llms_

    def cluster_probabilities(self, X: Sequence[str]) -> FloatArray:
        """Cluster membership of each prompt: array of shape (n, K) (one-hot when hard)."""
        self._check_fitted()
        features = np.asarray(self.featurizer_.transform(validate_texts(X)), dtype=np.float64)
        return self._probabilities(features)

    def representatives(self, X: Sequence[str], n: int = 200) -> NDArray[np.intp]:
        """Indices of up to `n` prompts of X that cover the clusters (round-robin, each cluster's
        prompts nearest its centroid first): the prompts a new LLM should be scored on."""
        self._check_fitted()
        features = np.asarray(self.featurizer_.transform(validate_texts(X)), dtype=np.float64)
        distance = ((features[:, None, :] - self.centroids_[None]) ** 2).sum(axis=2)
        label = distance.argmin(axis=1)
        queues = [
            list(np.flatnonzero(label == c)[np.argsort(distance[label == c, c])])
            for c in range(self.n_clusters)
        ]
        picked: list[int] = []
        while len(picked) < min(n, len(features)):
            for queue in queues:
                if queue and len(picked) < n:
                    picked.append(int(queue.pop(0)))
        return np.asarray(picked, dtype=np.intp)

    def add_llm(self, name: str, X: Sequence[str], scores: ArrayLike) -> UniRouteRouter:
        """Describe a new LLM by its scores on a few prompts (e.g. ≤ 200); nothing is retrained.

        Args:
            name: the new LLM.
            X: m prompts it was scored on (ideally from `representatives`).
            scores: array of shape (m,), its observed quality (1 = right, 0 = wrong).
        """
        self._check_fitted()
        if name in self.llms_:
            msg = f"LLM {name!r} is already known; remove_llm it first"
            raise ExpertError(msg)
        y = np.asarray(scores, dtype=np.float64)
        prompts = validate_texts(X)
        if y.shape != (len(prompts),):
            msg = f"scores must have shape ({len(prompts)},), got {y.shape}"
            raise ValueError(msg)
        self._add_profile(name, self.cluster_probabilities(prompts), y)
        return self

    def remove_llm(self, name: str) -> UniRouteRouter:
        """Forget one LLM."""
        self._check_fitted()
        if name not in self.llms_:
            msg = f"unknown LLM {name!r}; known: {list(self.llms_)}"
            raise ExpertError(msg)
        keep = [i for i, n in enumerate(self.llms_) if n != name]
        self.errors_, self.llms_ = self.errors_[keep], tuple(self.llms_[i] for i in keep)
        return self

    def decision_function(self, X: Sequence[str]) -> FloatArray:
        """Predicted quality (1 − predicted error) per LLM: array of shape (n, k)."""
        if not self.experts_:
            msg = "no LLM described yet: call add_llm(name, prompts, scores) first"
            raise NotFittedError(msg)
        return 1.0 - self.cluster_probabilities(X) @ self.errors_.T

    def predict(self, X: Sequence[str]) -> NDArray[np.object_]:
        """The LLM with the lowest predicted error for each prompt: shape (n,)."""
        return np.array([d.expert for d in self.route(X)], dtype=object)

    def route(
        self,
        X: Sequence[str],
        *,
        policy: RoutingPolicy | None = None,
        available: Collection[str] | None = None,
        costs: ArrayLike | None = None,
        temperature: float = 0.1,
    ) -> list[RoutingDecision]:
        """Decide for each prompt with `policy` (default: the best predicted quality).

        Args:
            X: n prompts.
            policy: e.g. ``RoutingPolicy(prices=..., lam=...)`` for quality − λ·cost.
            available: the LLMs that may be chosen.
            costs: array of shape (n, k), each LLM's cost per prompt (default: the prices).
            temperature: softmax temperature of the confidence over predicted qualities.
        """
        prompts = validate_texts(X)
        policy = policy or RoutingPolicy()
        quality = self.decision_function(prompts)
        if costs is None:
            priced = policy.costs(prompts, self.llms_)
        else:
            priced = np.asarray(costs, dtype=np.float64)
        table = ExpertScores(
            self.llms_, quality, softmax(quality / temperature, axis=1), quality, priced
        )
        return policy.decide(table, available=available)

    def _probabilities(self, features: FloatArray) -> FloatArray:
        distance = ((features[:, None, :] - self.centroids_[None]) ** 2).sum(axis=2)
        if self.assignment == "hard":
            return np.eye(self.n_clusters)[distance.argmin(axis=1)]
        return np.asarray(softmax(-distance / self.temperature_, axis=1), dtype=np.float64)

    def _add_profile(self, name: str, probabilities: FloatArray, scores: FloatArray) -> None:
        """Per-cluster mean error from (soft) cluster memberships, shrunk to the overall mean."""
        known = ~np.isnan(scores)
        if not known.any():
            msg = f"LLM {name!r} has no scores; score it on some prompts first"
            raise ValueError(msg)
        p, error = probabilities[known], 1.0 - scores[known]
        overall = float(error.mean())
        weight = p.sum(axis=0)
        profile = (p.T @ error + self.prior_strength * overall) / (weight + self.prior_strength)
        self.errors_ = np.vstack([self.errors_, profile[None, :]])
        self.llms_ = (*self.llms_, name)

    def _check_fitted(self) -> None:
        if not hasattr(self, "centroids_"):
            msg = "this UniRouteRouter is not fitted yet; call fit(training_prompts) first"
            raise NotFittedError(msg)
