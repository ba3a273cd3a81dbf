"""Features computed once: the core's featurizer cache on disk, and a featurizer that looks
precomputed rows up."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from ir3de_core.featurizers import CachedFeaturizer, Featurizer, validate_texts

__all__ = ["PrecomputedFeaturizer", "cache_path", "cached", "embed_and_save"]


def _key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def cache_path(featurizer: Featurizer, cache_dir: str | Path) -> Path:
    """The cache file of `featurizer` in `cache_dir`: ``<kind>-<digest of its config>.npz``.

    A change of any setting (model, truncation, batch size) gives a fresh file.
    """
    config = json.dumps(featurizer.get_config(), sort_keys=True).encode("utf-8")
    return Path(cache_dir) / f"{featurizer.kind}-{hashlib.sha1(config).hexdigest()[:16]}.npz"


def cached(featurizer: Featurizer, cache_dir: str | Path | None) -> Featurizer:
    """`featurizer` behind the core's `CachedFeaturizer`, its rows kept in `cache_dir` (call
    ``save()`` to write them; None: memory only).

    A featurizer the cache refuses (one that learns state, e.g. ``hashing``, or has token rows)
    comes back unchanged: it is cheap, or its rows are not a function of the text alone.
    """
    if not CachedFeaturizer.can_wrap(featurizer):
        return featurizer
    path = None if cache_dir is None else cache_path(featurizer, cache_dir)
    return CachedFeaturizer(featurizer, path=path)


def embed_and_save(featurizer: Featurizer, *texts: Sequence[str]) -> list[NDArray[np.floating]]:
    """Features of each group of `texts`, then the rows written to the featurizer's cache file
    (when it is a `CachedFeaturizer` with a path): one row array per group."""
    rows = [np.asarray(featurizer.transform(group)) for group in texts]
    if isinstance(featurizer, CachedFeaturizer):
        featurizer.save()
    return rows


class PrecomputedFeaturizer:
    """A featurizer that returns features computed earlier for known prompts.

    Lets benchmarks (and users with embeddings stored elsewhere) fit routers without running the
    encoder again. It cannot be saved with a router: its config names no rebuildable model.

    Args:
        prompts: the n prompts whose features are known.
        features: array of shape (n, d), one row per prompt.
    """

    kind: ClassVar[str] = "precomputed"

    def __init__(self, prompts: Sequence[str], features: NDArray[np.floating]) -> None:
        self.prompts = prompts
        self.features = features

    @property
    def table(self) -> dict[str, int]:
        """Prompt hash → row of `features` (built on first use)."""
        if not hasattr(self, "_table"):
            matrix = np.asarray(self.features)
            if matrix.ndim != 2 or matrix.shape[0] != len(self.prompts):
                msg = f"features must have shape ({len(self.prompts)}, d), got {matrix.shape}"
                raise ValueError(msg)
            self._table = {_key(p): i for i, p in enumerate(self.prompts)}
        return self._table

    @property
    def n_features(self) -> int:
        """Feature width d."""
        return int(np.asarray(self.features).shape[1])

    def transform(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Stored features of each text: array of shape (n_texts, d)."""
        items = validate_texts(texts)
        table = self.table
        rows = []
        for i, text in enumerate(items):
            row = table.get(_key(text))
            if row is None:
                msg = f"prompt {i} has no precomputed features; add it to the featurizer's prompts"
                raise KeyError(msg)
            rows.append(row)
        return np.asarray(np.asarray(self.features)[rows], dtype=np.float32)

    def get_config(self) -> dict[str, Any]:
        """Only the kind and width: a precomputed featurizer is not rebuilt from a config."""
        return {"kind": self.kind, "n_features": self.n_features}
