"""Baseline quality predictors for cost-aware routing: kNN (RouterBench's) and an MLP.

Both follow the quality-router contract used by the policies: ``fit(prompts, scores,
experts=...)``, ``decision_function(prompts) -> (n, k)`` and ``experts_``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from ir3de_core.exceptions import ExpertError
from ir3de_core.featurizers import Featurizer, make_featurizer, validate_texts

__all__ = ["KNNQualityRouter", "MLPQualityRouter"]

FloatArray = NDArray[np.float64]


def _score_array(scores: ArrayLike, n: int, experts: Sequence[str]) -> FloatArray:
    matrix = np.asarray(scores, dtype=np.float64)
    if matrix.shape != (n, len(experts)):
        msg = f"scores must have shape ({n}, {len(experts)}) (one column per expert), got {matrix.shape}"
        raise ValueError(msg)
    return matrix


class KNNQualityRouter(BaseEstimator):
    """Predict each expert's quality as its mean score on the k most similar labelled prompts.

    Similarity is the cosine of the featurizer's embeddings. Each expert has its own neighbours
    (prompts it was scored on), so an expert scored on only a few prompts can be added later.

    Args:
        featurizer: prompt featurizer (name, config dict or instance), default ``"sentence"``.
        n_neighbors: k.
    """

    def __init__(
        self, featurizer: str | dict[str, Any] | Featurizer = "sentence", *, n_neighbors: int = 10
    ) -> None:
        self.featurizer = featurizer
        self.n_neighbors = n_neighbors

    def fit(
        self, X: Sequence[str], scores: ArrayLike, *, experts: Sequence[str]
    ) -> KNNQualityRouter:
        """Store labelled prompts. scores: array of shape (n, k), NaN where unscored."""
        prompts = validate_texts(X)
        self.featurizer_ = make_featurizer(self.featurizer)
        matrix = _score_array(scores, len(prompts), experts)
        features = self._features(prompts)
        self.memory_: dict[str, tuple[FloatArray, FloatArray]] = {}
        for j, name in enumerate(experts):
            known = ~np.isnan(matrix[:, j])
            self.memory_[name] = (features[known], matrix[known, j])
        return self

    @property
    def experts_(self) -> tuple[str, ...]:
        """Expert names, in column order."""
        if not hasattr(self, "memory_"):
            msg = "this KNNQualityRouter is not fitted yet; call fit(prompts, scores, experts=...)"
            raise NotFittedError(msg)
        return tuple(self.memory_)

    def add_expert(self, name: str, X: Sequence[str], scores: ArrayLike) -> KNNQualityRouter:
        """Add an expert from its scores (shape (m,)) on a few prompts."""
        if name in self.experts_:
            msg = f"expert {name!r} already exists"
            raise ExpertError(msg)
        prompts = validate_texts(X)
        y = np.asarray(scores, dtype=np.float64).reshape(len(prompts))
        self.memory_[name] = (self._features(prompts), y)
        return self

    def decision_function(self, X: Sequence[str]) -> FloatArray:
        """Mean score of the nearest neighbours, per expert: array of shape (n, k)."""
        queries = self._features(validate_texts(X))
        out = np.empty((queries.shape[0], len(self.experts_)))
        for j, name in enumerate(self.experts_):
            keys, values = self.memory_[name]
            if values.size == 0:
                out[:, j] = np.nan
                continue
            k = min(self.n_neighbors, values.size)
            similarity = queries @ keys.T
            nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
            out[:, j] = values[nearest].mean(axis=1)
        return out

    def _features(self, prompts: list[str]) -> FloatArray:
        features = np.asarray(self.featurizer_.transform(prompts), dtype=np.float64)
        norms = np.linalg.norm(features, axis=1, keepdims=True)
        return features / np.where(norms == 0, 1.0, norms)


class MLPQualityRouter(BaseEstimator):
    """A small multi-output MLP (scikit-learn) from embeddings to every expert's score.

    Args:
        featurizer: prompt featurizer, default ``"sentence"``.
        hidden: sizes of the hidden layers.
        alpha: L2 penalty.
        random_state: seed.
    """

    def __init__(
        self,
        featurizer: str | dict[str, Any] | Featurizer = "sentence",
        *,
        hidden: tuple[int, ...] = (128,),
        alpha: float = 1e-2,
        random_state: int = 0,
    ) -> None:
        self.featurizer = featurizer
        self.hidden = hidden
        self.alpha = alpha
        self.random_state = random_state

    def fit(
        self, X: Sequence[str], scores: ArrayLike, *, experts: Sequence[str]
    ) -> MLPQualityRouter:
        """Fit on complete scores: array of shape (n, k) without NaN."""
        from sklearn.neural_network import MLPRegressor

        prompts = validate_texts(X)
        matrix = _score_array(scores, len(prompts), experts)
        if np.isnan(matrix).any():
            msg = "the MLP needs every expert scored on every prompt; drop incomplete rows"
            raise ValueError(msg)
        self.featurizer_ = make_featurizer(self.featurizer)
        self.model_ = MLPRegressor(
            hidden_layer_sizes=self.hidden, alpha=self.alpha, early_stopping=True,
            max_iter=500, random_state=self.random_state,
        ).fit(self.featurizer_.transform(prompts), matrix)  # fmt: skip
        self.experts_ = tuple(experts)
        return self

    def decision_function(self, X: Sequence[str]) -> FloatArray:
        """Predicted score of every expert: array of shape (n, k)."""
        if not hasattr(self, "model_"):
            msg = "this MLPQualityRouter is not fitted yet; call fit(prompts, scores, experts=...)"
            raise NotFittedError(msg)
        predicted = self.model_.predict(self.featurizer_.transform(validate_texts(X)))
        return np.asarray(predicted, dtype=np.float64).reshape(-1, len(self.experts_))
