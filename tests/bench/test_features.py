"""The benchmarks' embeddings go through the core's one featurizer cache, kept on disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.common.features import PrecomputedFeaturizer, cache_path, cached
from ir3de_core.featurizers import CachedFeaturizer, HashingFeaturizer

PROMPTS = ["sort a list in python", "integrate x squared", "who painted the mona lisa"]


def test_rows_persist_in_the_cache_dir_between_runs(tmp_path: Path) -> None:
    first = PrecomputedFeaturizer(PROMPTS, np.eye(3, dtype=np.float32))
    encoder = cached(first, tmp_path)
    assert isinstance(encoder, CachedFeaturizer)
    rows = encoder.transform(PROMPTS)
    encoder.save()
    assert cache_path(first, tmp_path).is_file()
    # a later run reads the rows from the file: its encoder is never asked for these prompts
    later = PrecomputedFeaturizer(["an unrelated prompt"], np.ones((1, 3), dtype=np.float32))
    again = cached(later, tmp_path)
    np.testing.assert_array_equal(again.transform(PROMPTS[::-1]), rows[::-1])
    with pytest.raises(KeyError, match="no precomputed features"):
        again.transform(["a prompt nobody embedded"])


def test_one_file_per_featurizer_config(tmp_path: Path) -> None:
    narrow = PrecomputedFeaturizer(PROMPTS, np.eye(3, dtype=np.float32))
    wide = PrecomputedFeaturizer(PROMPTS, np.ones((3, 5), dtype=np.float32))
    assert cache_path(narrow, tmp_path) != cache_path(wide, tmp_path)
    assert cache_path(narrow, tmp_path).name.startswith("precomputed-")
    assert isinstance(cached(narrow, None), CachedFeaturizer)  # memory only
    assert cached(narrow, None).path is None  # type: ignore[attr-defined]


def test_featurizers_the_cache_refuses_come_back_unchanged(tmp_path: Path) -> None:
    hashing = HashingFeaturizer(64, tfidf=False)  # it has `fit`: the core will not cache it
    assert cached(hashing, tmp_path) is hashing
