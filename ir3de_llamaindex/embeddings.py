"""Embeddings both ways: an ir3de featurizer as a LlamaIndex embedding, and the reverse.

`IR3DEEmbedding` lets a LlamaIndex index embed with the same local model the router uses (by
default the bundled all-MiniLM-L6-v2, no network), or with hashed word counts (no model at all). `EmbeddingFeaturizer` lets the router learn on
top of any LlamaIndex `BaseEmbedding` (for example the one in ``Settings.embed_model``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import PrivateAttr
from numpy.typing import NDArray

from ir3de_core.featurizers import Featurizer, make_featurizer, validate_texts

__all__ = ["EmbeddingFeaturizer", "IR3DEEmbedding"]


class IR3DEEmbedding(BaseEmbedding):
    """A LlamaIndex embedding model backed by an ir3de featurizer.

    Queries and documents are embedded the same way (the featurizer has no query prefix), and a
    text always gets the same vector: an index built today is searched with the same map.

    Args:
        featurizer: ``"sentence"`` (bundled all-MiniLM-L6-v2, local), ``"hashing"`` (hashed
            word and bigram counts, L2-normalised: no model, no fitting), a config dict or a
            featurizer instance; an instance is shared, not copied, so a router and an index
            can load the model once. A featurizer that learns from data must come fitted (for
            example a fitted router's ``featurizer_``): TF-IDF weights learned on whatever an
            index embeds first would change with the corpus, and vectors stored earlier would no
            longer match, so ``"hashing"`` here means ``{"kind": "hashing", "tfidf": False}``.

    Raises:
        ValueError: the featurizer learns from data and is not fitted.
    """

    _featurizer: Featurizer = PrivateAttr()

    def __init__(self, featurizer: str | dict[str, Any] | Featurizer = "sentence", **kwargs: Any):
        model_name = kwargs.pop("model_name", None) or _model_name(featurizer)
        super().__init__(model_name=model_name, **kwargs)
        self._featurizer = _stable(featurizer)

    @classmethod
    def class_name(cls) -> str:
        """Name used when serialising."""
        return "IR3DEEmbedding"

    @property
    def featurizer(self) -> Featurizer:
        """The ir3de featurizer that computes the vectors."""
        return self._featurizer

    def _embed(self, texts: list[str]) -> list[Embedding]:
        rows = self._featurizer.transform(texts)
        return [row.astype(float).tolist() for row in np.asarray(rows)]

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._embed([query])[0]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return (await asyncio.to_thread(self._embed, [query]))[0]

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._embed([text])[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await asyncio.to_thread(self._embed, [text]))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._embed(texts)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await asyncio.to_thread(self._embed, texts)


def _stable(spec: str | dict[str, Any] | Featurizer) -> Featurizer:
    """The featurizer of `spec`, hashing without TF-IDF unless asked; refused if not fitted."""
    if spec == "hashing" or (
        isinstance(spec, dict) and spec.get("kind") == "hashing" and "tfidf" not in spec
    ):
        spec = {**(spec if isinstance(spec, dict) else {"kind": "hashing"}), "tfidf": False}
    featurizer = make_featurizer(spec)
    if not getattr(featurizer, "is_fitted", True):
        msg = (
            f"the {featurizer.get_config()['kind']!r} featurizer learns from data and is not "
            "fitted, so its vectors would change with the corpus; use 'hashing' (no TF-IDF), "
            "pass tfidf=False, or pass a fitted featurizer (a fitted router's featurizer_)"
        )
        raise ValueError(msg)
    return featurizer


def _model_name(featurizer: object) -> str:
    if isinstance(featurizer, str):
        return featurizer
    if isinstance(featurizer, dict):
        return str(featurizer.get("model", featurizer.get("kind", "ir3de")))
    return str(getattr(featurizer, "model", getattr(featurizer, "kind", "ir3de")))


class EmbeddingFeaturizer:
    """An ir3de featurizer that embeds texts with a LlamaIndex `BaseEmbedding`.

    Every text, example query or routed query alike, goes through ``get_text_embedding_batch``
    so that training and routing rows come from the same map.

    Args:
        embed_model: any LlamaIndex embedding model.
    """

    kind: ClassVar[str] = "llamaindex"

    def __init__(self, embed_model: BaseEmbedding) -> None:
        self.embed_model = embed_model
        self._width: int | None = None

    @property
    def n_features(self) -> int:
        """Embedding width d (embeds one probe text the first time it is asked)."""
        if self._width is None:
            self._width = int(self.transform(["width probe"]).shape[1])
        return self._width

    def transform(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embeddings: array of shape (n_texts, d)."""
        items = validate_texts(texts)
        rows = np.asarray(self.embed_model.get_text_embedding_batch(items), dtype=np.float32)
        self._width = int(rows.shape[1])
        return rows

    def get_config(self) -> dict[str, Any]:
        """A description of the embedding model; not rebuildable by ``make_featurizer``."""
        return {"kind": self.kind, "model": self.embed_model.model_name}
