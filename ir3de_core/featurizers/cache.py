"""`CachedFeaturizer`: remember the rows of texts already featurized (in memory, optionally on disk).

The one featurizer cache of ir3de: the LlamaIndex selector keeps choice descriptions and example
queries across retrainings with it, and the benchmarks embed each prompt once per run (and once
across runs with a file). Only featurizers without learned state and without token rows are
wrapped: their rows depend on the text alone.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from ir3de_core.featurizers.base import Featurizer, validate_texts

__all__ = ["CachedFeaturizer"]


class CachedFeaturizer:
    """Rows of a stateless featurizer, computed once per text.

    Args:
        inner: the featurizer whose rows are cached (its config is reported unchanged).
        max_size: most texts remembered, least recently used dropped first (None: no limit).
        path: an ``.npz`` file the rows are loaded from and written to by `save` (None: memory
            only).
    """

    kind: ClassVar[str] = "cached"

    def __init__(
        self, inner: Featurizer, *, max_size: int | None = None, path: Path | None = None
    ) -> None:
        if not self.can_wrap(inner):
            msg = f"cannot cache the {inner.kind!r} featurizer: it learns state or has token rows"
            raise ValueError(msg)
        self.inner = inner
        self.max_size = max_size
        self.path = path
        self._rows: OrderedDict[str, NDArray[np.float32]] = OrderedDict()
        self._lock = threading.Lock()
        if path is not None and path.is_file():
            with np.load(path, allow_pickle=False) as saved:
                self._rows.update(zip(saved["keys"].tolist(), saved["rows"], strict=True))

    @staticmethod
    def can_wrap(featurizer: Featurizer) -> bool:
        """Whether caching is safe: no learned state and no per-token rows."""
        return not hasattr(featurizer, "fit") and not callable(
            getattr(featurizer, "token_ids", None)
        )

    @staticmethod
    def key(text: str) -> str:
        """The cache key of a text."""
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @property
    def n_features(self) -> int:
        """Feature width d of the wrapped featurizer."""
        return self.inner.n_features

    @property
    def cache_size(self) -> int:
        """Number of texts whose rows are remembered."""
        return len(self._rows)

    def transform(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Rows of the texts, computing only those not cached: shape (n_texts, d)."""
        items = validate_texts(texts)
        keys = [self.key(t) for t in items]
        with self._lock:
            known = {k: self._rows[k] for k in dict.fromkeys(keys) if k in self._rows}
            for key in known:
                self._rows.move_to_end(key)
        missing = {k: t for k, t in zip(keys, items, strict=True) if k not in known}
        if missing:
            fresh = np.asarray(self.inner.transform(list(missing.values())), dtype=np.float32)
            known.update(zip(missing, fresh, strict=True))
            with self._lock:
                self._rows.update(zip(missing, fresh, strict=True))
                while self.max_size is not None and len(self._rows) > self.max_size:
                    self._rows.popitem(last=False)
        return np.stack([known[k] for k in keys]).astype(np.float32, copy=False)

    def save(self) -> None:
        """Write the cached rows to `path` atomically (nothing without a path or rows)."""
        if self.path is None or not self._rows:
            return
        with self._lock:
            keys, rows = np.array(list(self._rows)), np.stack(list(self._rows.values()))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp.npz")
        np.savez(tmp, keys=keys, rows=rows)
        tmp.replace(self.path)

    def get_config(self) -> dict[str, Any]:
        """The wrapped featurizer's settings."""
        return self.inner.get_config()
