"""Features computed once: a disk cache of embeddings and a featurizer that looks them up."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from ir3de_core.featurizers import Featurizer, validate_texts

__all__ = ["PrecomputedFeaturizer", "cached_transform"]


def _key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def cached_transform(
    featurizer: Featurizer, prompts: Sequence[str], cache_dir: str | Path
) -> NDArray[np.float32]:
    """``featurizer.transform(prompts)``, stored in `cache_dir` and reused on the next call.

    The cache file is named by a hash of the featurizer's config and of the prompts, so a change
    of either computes fresh features.

    Args:
        featurizer: any featurizer (e.g. the ``sentence`` one).
        prompts: n prompts.
        cache_dir: a directory outside the repository (created if needed).

    Returns:
        array of shape (n, d).
    """
    items = validate_texts(prompts)
    digest = hashlib.sha1(json.dumps(featurizer.get_config(), sort_keys=True).encode())
    for text in items:
        digest.update(_key(text).encode())
    path = Path(cache_dir) / f"features-{digest.hexdigest()[:20]}.npy"
    if path.is_file():
        cached = np.load(path)
        if cached.shape[0] == len(items):
            return np.asarray(cached, dtype=np.float32)
    features = np.asarray(featurizer.transform(items), dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, features)
    tmp.replace(path)
    return features


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
