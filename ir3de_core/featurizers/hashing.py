"""`hashing`: bag of words and bigrams through scikit-learn's HashingVectorizer; no model, no network."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.utils import murmurhash3_32

from ir3de_core.featurizers.base import validate_texts
from ir3de_core.featurizers.checks import MAX_FEATURES, count
from ir3de_core.featurizers.truncation import Truncation, TruncationStrategy

__all__ = ["HashingFeaturizer"]

_WORD = re.compile(r"\S+")
_FAST_BELOW = 32
"""Batches smaller than this (a served request's one prompt) are hashed here in Python, the
counts taken straight to TF-IDF; larger ones go through scikit-learn's Cython hasher and its
sparse matrix, which cost ~1 ms of fixed overhead per call but less per prompt."""


class HashingFeaturizer:
    """Hashed word and bigram counts, optionally TF-IDF weighted, L2-normalised.

    Args:
        n_features: number of hash buckets d (1 to 16,384: the statistics are d×d).
        ngram_max: longest word n-gram counted.
        tfidf: weight counts by inverse document frequency learned in `fit`.
        max_tokens: longest prompt kept, in words (None keeps all).
        truncation: which words to keep of a longer prompt.
    """

    kind: ClassVar[str] = "hashing"

    def __init__(
        self,
        n_features: int = 1024,
        *,
        ngram_max: int = 2,
        tfidf: bool = True,
        max_tokens: int | None = 512,
        truncation: TruncationStrategy = "head+tail",
    ) -> None:
        n_features = count("n_features", n_features, high=MAX_FEATURES)
        self._n_features = n_features
        self.ngram_max = count("ngram_max", ngram_max, high=5)
        self.tfidf = tfidf
        self.truncation = Truncation(max_tokens, truncation)
        self._vectorizer = HashingVectorizer(
            n_features=n_features,
            ngram_range=(1, ngram_max),
            alternate_sign=False,
            norm=None if tfidf else "l2",
        )
        self._idf: TfidfTransformer | None = None
        self._analyzer: Any = None  # the vectorizer's tokenizer and n-grams, built once

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_analyzer": None}

    @property
    def n_features(self) -> int:
        """Number of hash buckets d."""
        return self._n_features

    @property
    def is_fitted(self) -> bool:
        """Whether the featurizer is ready to transform (TF-IDF needs `fit` first)."""
        return not self.tfidf or self._idf is not None

    def fit(self, texts: Sequence[str]) -> HashingFeaturizer:
        """Learn inverse document frequencies (only when ``tfidf=True``)."""
        if self.tfidf:
            counts = self._vectorizer.transform(self._truncate(validate_texts(texts)))
            self._idf = TfidfTransformer(sublinear_tf=True).fit(counts)
        return self

    def transform(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Features: array of shape (n_texts, n_features)."""
        items = self._truncate(validate_texts(texts))
        if not self.tfidf:
            return np.asarray(self._vectorizer.transform(items).toarray(), dtype=np.float32)
        if self._idf is None:
            msg = "the TF-IDF hashing featurizer is not fitted; call fit(texts) or fit the router"
            raise RuntimeError(msg)
        if len(items) < _FAST_BELOW:
            if self._analyzer is None:
                self._analyzer = self._vectorizer.build_analyzer()
            rows, indices, counts = _hashed_counts(items, self._analyzer, self._n_features)
        else:
            csr = self._vectorizer.transform(items).tocsr()
            rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
            indices, counts = csr.indices, csr.data
        return _tfidf((len(items), self._n_features), rows, indices, counts, self._idf.idf_)

    def _truncate(self, texts: list[str]) -> list[str]:
        out = []
        limit = self.truncation.max_tokens
        for text in texts:
            words = [m.span() for m in _WORD.finditer(text)]
            if limit is None or len(words) <= limit:  # kept whole: what spans() would join
                out.append(text[words[0][0] : words[-1][1]] if words else "")
                continue
            spans = self.truncation.spans(len(words))
            out.append(" ".join(text[words[s][0] : words[e - 1][1]] for s, e in spans))
        return out

    def get_config(self) -> dict[str, Any]:
        """Settings that rebuild this featurizer (the IDF vector is saved as an array)."""
        return {
            "kind": self.kind,
            "n_features": self._n_features,
            "ngram_max": self.ngram_max,
            "tfidf": self.tfidf,
            "max_tokens": self.truncation.max_tokens,
            "truncation": self.truncation.strategy,
        }

    def state_arrays(self) -> dict[str, NDArray[np.float64]]:
        """Learned state to save next to the router's arrays."""
        if self._idf is None:
            return {}
        return {"idf": np.asarray(self._idf.idf_, dtype=np.float64)}

    def load_state_arrays(self, arrays: dict[str, NDArray[np.float64]]) -> None:
        """Restore the state written by `state_arrays`."""
        if "idf" not in arrays:
            return
        idf = arrays["idf"]
        if idf.shape != (self._n_features,):
            msg = f"saved IDF has shape {idf.shape}, expected ({self._n_features},)"
            raise ValueError(msg)
        transformer = TfidfTransformer(sublinear_tf=True)
        transformer.idf_ = idf
        self._idf = transformer


def _hashed_counts(
    items: list[str], analyzer: Any, n_features: int
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float64]]:
    """What scikit-learn's ``FeatureHasher`` (unsigned, as the vectorizer is set) counts, for
    a few texts: the row, bucket and count of every distinct bucket of each text (m,)."""
    rows: list[int] = []
    indices: list[int] = []
    counts: list[float] = []
    for row, item in enumerate(items):
        buckets: dict[int, float] = {}
        for token in analyzer(item):
            h = murmurhash3_32(token, seed=0)
            # as sklearn's _hashing_fast: abs(-2**31) is undefined in C, so it is mapped so
            bucket = (
                (2147483647 - (n_features - 1)) % n_features
                if h == -2147483648
                else abs(h) % n_features
            )
            buckets[bucket] = buckets.get(bucket, 0.0) + 1.0
        rows += [row] * len(buckets)
        indices += buckets
        counts += buckets.values()
    as_index = np.asarray(indices, dtype=np.intp)
    return np.asarray(rows, dtype=np.intp), as_index, np.asarray(counts, dtype=np.float64)


def _tfidf(
    shape: tuple[int, int],
    rows: NDArray[Any],
    indices: NDArray[Any],
    counts: NDArray[Any],
    idf: NDArray[np.float64],
) -> NDArray[np.float32]:
    """What ``TfidfTransformer(sublinear_tf=True).transform`` computes (1 + log count, times the
    IDF, rows L2-normalised), without its input checks (the counts come from the hasher): a
    served request pays microseconds instead of a millisecond. rows, indices, counts: (m,)
    each, every bucket at most once per row; returns (n, d).
    """
    data = np.log(np.asarray(counts, dtype=np.float64)) + 1.0
    data *= idf[indices]
    out = np.zeros(shape, dtype=np.float64)
    out[rows, indices] = data
    norms = np.sqrt(np.einsum("ij,ij->i", out, out))
    out /= np.where(norms > 0, norms, 1.0)[:, None]
    return out.astype(np.float32)
