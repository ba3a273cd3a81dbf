"""The featurizer interface: texts in, a float matrix out, and a small config dict to rebuild it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

__all__ = ["Featurizer", "TokenFeaturizer", "validate_texts"]


@runtime_checkable
class Featurizer(Protocol):
    """Turns prompts into feature rows.

    Attributes:
        kind: registry name of the featurizer (``"hashing"``, ``"tokens"``, ...).
        n_features: number of features d.
    """

    kind: ClassVar[str]

    @property
    def n_features(self) -> int:
        """Number of features d."""
        ...

    def transform(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Features of each text: array of shape (n_texts, d)."""
        ...

    def get_config(self) -> dict[str, Any]:
        """JSON-serialisable settings; ``make_featurizer(config)`` rebuilds an equal featurizer."""
        ...


@runtime_checkable
class TokenFeaturizer(Featurizer, Protocol):
    """A featurizer whose rows are tokens of a fixed vocabulary (rows of an embedding table)."""

    @property
    def table(self) -> NDArray[np.float32]:
        """The embedding table: array of shape (vocab_size, d)."""
        ...

    def token_ids(self, texts: Sequence[str]) -> list[NDArray[np.int64]]:
        """Token ids of each text after truncation: list of arrays of shape (t_i,)."""
        ...

    def transform_tokens(self, texts: Sequence[str]) -> list[NDArray[np.float32]]:
        """Per-token features: list of arrays of shape (t_i, d)."""
        ...

    def token_strings(self, ids: NDArray[np.int64]) -> list[str]:
        """Readable token strings for the ids (for explanations)."""
        ...


def validate_texts(texts: object) -> list[str]:
    """Check that `texts` is a non-empty sequence of non-empty strings and return it as a list.

    Raises:
        TypeError: when `texts` is a bare string or holds a non-string.
        ValueError: when the sequence is empty or a prompt is empty or only whitespace.
    """
    if isinstance(texts, str | bytes):
        msg = "expected a list of prompts, got a single string; wrap it: [prompt]"
        raise TypeError(msg)
    if not isinstance(texts, Sequence) and not hasattr(texts, "__iter__"):
        msg = f"expected a list of prompts, got {type(texts).__name__}"
        raise TypeError(msg)
    items = list(texts)
    if not items:
        msg = "got an empty list of prompts; pass at least one prompt"
        raise ValueError(msg)
    for i, text in enumerate(items):
        if not isinstance(text, str):
            msg = f"prompt {i} is a {type(text).__name__}, not a str; convert it to text first"
            raise TypeError(msg)
        if not text.strip():
            msg = f"prompt {i} is empty; drop empty prompts before routing"
            raise ValueError(msg)
    return items
