"""`sentence-rff`: random Fourier features of sentence embeddings — an RBF-kernel ridge that is
still a linear ridge, so the fit keeps its sufficient statistics and exact add/remove/merge.

φ(x) = √(2/D) · cos(xᵀW + b) with W ~ N(0, 2γ) of shape (d, D) and b ~ U(0, 2π) of shape (D,)
(Rahimi & Recht 2007; drawn by scikit-learn's `RBFSampler`), so φ(x)ᵀφ(y) ≈ exp(−γ‖x − y‖²).
The map is a function of the seed, the embedding width and γ; with ``gamma="median"`` γ is
1 / (2 m²), m the median distance between the embeddings of (a seeded sample of) the training
prompts, learned in `fit`. W, b and γ are saved with the router as plain arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import NDArray

from ir3de_core.featurizers._hf import DEFAULT_MODEL
from ir3de_core.featurizers.base import Featurizer, validate_texts
from ir3de_core.featurizers.checks import MAX_FEATURES, count, positive
from ir3de_core.featurizers.sentence import SentenceFeaturizer
from ir3de_core.featurizers.truncation import TruncationStrategy

__all__ = ["MEDIAN_SAMPLE", "SentenceRFFFeaturizer", "median_gamma"]

MEDIAN_SAMPLE = 512
"""Most training prompts embedded to estimate the median distance (a seeded sample)."""


def median_gamma(embeddings: NDArray[np.floating]) -> float:
    """γ = 1 / (2 m²), m the median pairwise distance of the rows of `embeddings` (n, d)."""
    x = np.asarray(embeddings, dtype=np.float64)
    if x.shape[0] < 2:
        msg = "the median heuristic needs at least 2 prompts; pass gamma as a number"
        raise ValueError(msg)
    norms = np.einsum("ij,ij->i", x, x)
    squared = norms[:, None] + norms[None, :] - 2.0 * (x @ x.T)
    upper = np.maximum(squared[np.triu_indices(x.shape[0], k=1)], 0.0)
    median = float(np.median(upper))
    if not median > 0:
        msg = "the training prompts embed to (nearly) one point; pass gamma as a number"
        raise ValueError(msg)
    return 1.0 / (2.0 * median)


class SentenceRFFFeaturizer:
    """Random Fourier features (RBF kernel) of pooled sentence embeddings.

    Args:
        model: as `SentenceFeaturizer` (``"all-MiniLM-L6-v2"`` bundled, or a local directory).
        n_components: number of random features D (the statistics are D×D).
        gamma: the RBF kernel's γ, or ``"median"`` to learn it from the training prompts.
        seed: seed of the random map (same seed, width and γ: the same map, bit for bit).
        max_tokens: as `SentenceFeaturizer`.
        truncation: as `SentenceFeaturizer`.
        batch_size: as `SentenceFeaturizer`.
    """

    kind: ClassVar[str] = "sentence-rff"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        n_components: int = 1024,
        gamma: float | Literal["median"] = "median",
        seed: int = 0,
        max_tokens: int | None = 250,
        truncation: TruncationStrategy = "head+tail",
        batch_size: int = 64,
    ) -> None:
        self.n_components = count("n_components", n_components, high=MAX_FEATURES)
        self.gamma: float | Literal["median"] = (
            "median" if gamma == "median" else positive("gamma", gamma)
        )
        self.seed = count("seed", seed, low=0, high=2**32 - 1)
        self.base: Featurizer = SentenceFeaturizer(
            model, max_tokens=max_tokens, truncation=truncation, batch_size=batch_size
        )
        self._map: tuple[NDArray[np.float64], NDArray[np.float64], float] | None = None

    @property
    def n_features(self) -> int:
        """Number of random features D."""
        return self.n_components

    @property
    def is_fitted(self) -> bool:
        """Whether γ is known (a number, or learned by `fit`)."""
        return self._map is not None or self.gamma != "median"

    def fit(self, texts: Sequence[str]) -> SentenceRFFFeaturizer:
        """Draw the map; with ``gamma="median"`` learn γ from a seeded sample of `texts`."""
        items = validate_texts(texts)
        gamma = self.gamma
        if gamma == "median":
            rng = np.random.default_rng(self.seed)
            keep = np.sort(rng.permutation(len(items))[:MEDIAN_SAMPLE])
            gamma = median_gamma(self.base.transform([items[i] for i in keep.tolist()]))
        self._map = self._draw(float(gamma), self.base.n_features)
        return self

    def _draw(
        self, gamma: float, width: int
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
        from sklearn.kernel_approximation import RBFSampler

        sampler = RBFSampler(gamma=gamma, n_components=self.n_components, random_state=self.seed)
        sampler.fit(np.zeros((1, width)))  # the draw depends on the width only, not the data
        weights = np.asarray(sampler.random_weights_, dtype=np.float64)
        offset = np.asarray(sampler.random_offset_, dtype=np.float64)
        return weights, offset, gamma

    @property
    def map(self) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
        """W of shape (d, D), b of shape (D,) and γ (drawn on first use for a numeric γ)."""
        if self._map is None:
            if self.gamma == "median":
                msg = (
                    "the sentence-rff featurizer learns gamma from data; call fit(texts) or fit "
                    "the router, or pass gamma as a number"
                )
                raise RuntimeError(msg)
            self._map = self._draw(float(self.gamma), self.base.n_features)
        return self._map

    def features(self, embeddings: NDArray[np.floating]) -> NDArray[np.float64]:
        """φ of embeddings (n, d): array of shape (n, D), in float64."""
        weights, offset, _ = self.map
        projected = np.asarray(embeddings, dtype=np.float64) @ weights
        projected += offset
        np.cos(projected, out=projected)
        projected *= np.sqrt(2.0 / self.n_components)
        return projected

    def transform(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Random features of each text: array of shape (n_texts, D)."""
        weights = self.map[0]  # fail before embedding when the map is unknown
        embeddings = self.base.transform(texts)
        if embeddings.shape[1] != weights.shape[0]:
            msg = f"the model gives {embeddings.shape[1]} dims, the map expects {weights.shape[0]}"
            raise ValueError(msg)
        return self.features(embeddings).astype(np.float32)

    def get_config(self) -> dict[str, Any]:
        """Settings that rebuild this featurizer (the map is saved as arrays)."""
        return {
            **self.base.get_config(),
            "kind": self.kind,
            "n_components": self.n_components,
            "gamma": self.gamma,
            "seed": self.seed,
        }

    def state_arrays(self) -> dict[str, NDArray[np.float64]]:
        """The map as plain arrays: ``rff_weights`` (d, D), ``rff_offset`` (D,), ``rff_gamma``."""
        if not self.is_fitted:
            return {}
        weights, offset, gamma = self.map
        return {"rff_weights": weights, "rff_offset": offset, "rff_gamma": np.asarray([gamma])}

    def load_state_arrays(self, arrays: dict[str, NDArray[np.float64]]) -> None:
        """Restore the map written by `state_arrays` (shapes and γ checked)."""
        if "rff_weights" not in arrays:
            return
        weights, offset = arrays["rff_weights"], arrays["rff_offset"]
        gamma = positive("the saved gamma", float(np.asarray(arrays["rff_gamma"]).reshape(-1)[0]))
        if weights.ndim != 2 or weights.shape[1] != self.n_components:
            msg = f"saved map has shape {weights.shape}, expected (d, {self.n_components})"
            raise ValueError(msg)
        if offset.shape != (self.n_components,) or not np.isfinite(weights).all():
            msg = f"saved offset has shape {offset.shape}, expected ({self.n_components},)"
            raise ValueError(msg)
        if self.gamma not in ("median", gamma):
            msg = f"saved gamma {gamma} differs from the setting {self.gamma}"
            raise ValueError(msg)
        self._map = (
            np.array(weights, dtype=np.float64),
            np.array(offset, dtype=np.float64),
            gamma,
        )
