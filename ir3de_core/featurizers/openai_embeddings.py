"""`openai`: embeddings from any OpenAI-compatible endpoint, batched, retried and cached on disk."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from ir3de_core._optional import require
from ir3de_core.featurizers.base import validate_texts
from ir3de_core.featurizers.checks import MAX_FEATURES, count, positive

__all__ = ["EmbeddingCache", "OpenAIEmbeddingFeaturizer"]


class EmbeddingCache:
    """A SQLite file mapping sha256(model, text) to a float32 vector."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB)")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    @staticmethod
    def key(model: str, text: str) -> str:
        """Cache key of one text embedded by one model."""
        return hashlib.sha256(f"{model}\x00{text}".encode()).hexdigest()

    def get_many(self, keys: Sequence[str]) -> dict[str, NDArray[np.float32]]:
        """The cached vectors among `keys`."""
        found: dict[str, NDArray[np.float32]] = {}
        with self._connect() as db:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                marks = ",".join("?" * len(chunk))
                query = f"SELECT key, vector FROM vectors WHERE key IN ({marks})"
                for key, blob in db.execute(query, chunk):
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, items: dict[str, NDArray[np.float32]]) -> None:
        """Store vectors."""
        rows = [(k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items.items()]
        with self._connect() as db:
            db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", rows)


class OpenAIEmbeddingFeaturizer:
    """Embeddings through the `openai` SDK against any OpenAI-compatible base URL.

    Args:
        model: embedding model name served by the endpoint.
        base_url: e.g. ``http://127.0.0.1:8080/v1``; None uses the SDK default (OPENAI_BASE_URL).
        api_key_env: environment variable holding the key (a placeholder is used when unset, as
            local servers accept any key).
        batch_size: texts per request.
        max_retries: retries with exponential back-off, done by the SDK.
        timeout: seconds per request.
        cache_dir: where the SQLite cache lives; None disables caching.
        dimensions: embedding width; when None it is learned from the first response.
    """

    kind: ClassVar[str] = "openai"

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        *,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        batch_size: int = 128,
        max_retries: int = 4,
        timeout: float = 60.0,
        cache_dir: str | None = "~/.cache/ir3de/embeddings",
        dimensions: int | None = None,
    ) -> None:
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.batch_size = count("batch_size", batch_size, high=2048)
        self.max_retries = count("max_retries", max_retries, low=0, high=20)
        self.timeout = positive("timeout", timeout)
        self.cache_dir = cache_dir
        self.dimensions = (
            None if dimensions is None else count("dimensions", dimensions, high=MAX_FEATURES)
        )

    @cached_property
    def client(self):  # type: ignore[no-untyped-def]  # openai.OpenAI
        """The SDK client, built on first use."""
        openai = require("openai", "openai")

        return openai.OpenAI(
            base_url=self.base_url,
            api_key=os.environ.get(self.api_key_env, "not-needed-for-local-servers"),
            max_retries=self.max_retries,
            timeout=self.timeout,
        )

    @cached_property
    def cache(self) -> EmbeddingCache | None:
        """The on-disk cache, or None when disabled."""
        if self.cache_dir is None:
            return None
        return EmbeddingCache(Path(self.cache_dir).expanduser() / "embeddings.sqlite")

    @property
    def n_features(self) -> int:
        """Embedding width d (asks the endpoint once when not configured)."""
        if self.dimensions is None:
            self.dimensions = int(self.transform(["dimension probe"]).shape[1])
        return self.dimensions

    def transform(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embeddings: array of shape (n_texts, d); cached texts are not sent again."""
        items = validate_texts(texts)
        keys = [EmbeddingCache.key(self.model, t) for t in items]
        found = self.cache.get_many(keys) if self.cache is not None else {}
        missing = list(dict.fromkeys(i for i, k in enumerate(keys) if k not in found))
        fresh: dict[str, NDArray[np.float32]] = {}
        for start in range(0, len(missing), self.batch_size):
            batch = missing[start : start + self.batch_size]
            response = self.client.embeddings.create(
                model=self.model, input=[items[i] for i in batch]
            )
            for i, item in zip(batch, sorted(response.data, key=lambda d: d.index), strict=True):
                fresh[keys[i]] = _pooled(item.embedding)
        if fresh and self.cache is not None:
            self.cache.put_many(fresh)
        found.update(fresh)
        vectors = np.stack([found[k] for k in keys])
        if self.dimensions is not None and vectors.shape[1] != self.dimensions:
            msg = f"endpoint returned {vectors.shape[1]}-d embeddings, expected {self.dimensions}"
            raise ValueError(msg)
        self.dimensions = int(vectors.shape[1])
        return vectors

    def get_config(self) -> dict[str, Any]:
        """Settings that rebuild this featurizer (never the key itself, only its variable)."""
        return {
            "kind": self.kind,
            "model": self.model,
            "base_url": self.base_url,
            "api_key_env": self.api_key_env,
            "batch_size": self.batch_size,
            "max_retries": self.max_retries,
            "timeout": self.timeout,
            "cache_dir": self.cache_dir,
            "dimensions": self.dimensions,
        }


def _pooled(embedding: object) -> NDArray[np.float32]:
    """One vector per text: servers without pooling (llama.cpp on a generative model) return one
    row per token, which is mean-pooled here. Shape (d,)."""
    vector = np.asarray(embedding, dtype=np.float32)
    if vector.ndim == 2:
        vector = vector.mean(axis=0)
    if vector.ndim != 1 or vector.size == 0:
        msg = f"the endpoint returned an embedding of shape {vector.shape}; expected a vector"
        raise ValueError(msg)
    return vector
