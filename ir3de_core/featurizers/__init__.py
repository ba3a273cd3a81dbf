"""Featurizers: texts in, feature rows out. Rebuilt from a config dict by a fixed registry."""

from __future__ import annotations

from typing import Any

from ir3de_core.featurizers.base import Featurizer, TokenFeaturizer, validate_texts
from ir3de_core.featurizers.cache import CachedFeaturizer
from ir3de_core.featurizers.hashing import HashingFeaturizer
from ir3de_core.featurizers.openai_embeddings import OpenAIEmbeddingFeaturizer
from ir3de_core.featurizers.random_features import SentenceRFFFeaturizer
from ir3de_core.featurizers.sentence import SentenceFeaturizer
from ir3de_core.featurizers.tokens import TokenEmbeddingFeaturizer
from ir3de_core.featurizers.truncation import Truncation

__all__ = [
    "FEATURIZERS",
    "CachedFeaturizer",
    "Featurizer",
    "HashingFeaturizer",
    "OpenAIEmbeddingFeaturizer",
    "SentenceFeaturizer",
    "SentenceRFFFeaturizer",
    "TokenEmbeddingFeaturizer",
    "TokenFeaturizer",
    "Truncation",
    "is_token_featurizer",
    "make_featurizer",
    "validate_texts",
]

FEATURIZERS: dict[str, type] = {
    "hashing": HashingFeaturizer,
    "tokens": TokenEmbeddingFeaturizer,
    "sentence": SentenceFeaturizer,
    "sentence-rff": SentenceRFFFeaturizer,
    "openai": OpenAIEmbeddingFeaturizer,
}


def make_featurizer(spec: str | dict[str, Any] | Featurizer) -> Featurizer:
    """A featurizer from a registry name, a config dict (``{"kind": ..., **settings}``) or itself.

    Only the classes in `FEATURIZERS` can be built: a config never names code to import.
    """
    if spec == "auto":
        msg = (
            "featurizer='auto' is chosen by IR3DERouter.fit's cross-validation; a streamed or "
            "Dask fit, or statistics computed alone, need a named featurizer"
        )
        raise ValueError(msg)
    if isinstance(spec, str):
        spec = {"kind": spec}
    if isinstance(spec, dict):
        settings = dict(spec)
        kind = settings.pop("kind", None)
        if kind not in FEATURIZERS:
            msg = f"unknown featurizer {kind!r}; choose one of {sorted(FEATURIZERS)}"
            raise ValueError(msg)
        try:
            featurizer: Featurizer = FEATURIZERS[kind](**settings)
        except TypeError as e:
            msg = f"bad settings for the {kind!r} featurizer: {e}"
            raise ValueError(msg) from e
        return featurizer
    if callable(getattr(type(spec), "transform", None)) and callable(
        getattr(type(spec), "get_config", None)
    ):  # checked on the type: isinstance() on the Protocol would evaluate lazy properties
        return spec
    msg = f"expected a featurizer name, config dict or Featurizer, got {type(spec).__name__}"
    raise TypeError(msg)


def is_token_featurizer(featurizer: Featurizer) -> bool:
    """Whether the featurizer exposes per-token rows of an embedding table."""
    return callable(getattr(type(featurizer), "token_ids", None))
