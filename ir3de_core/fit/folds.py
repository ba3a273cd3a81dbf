"""Cross-validation folds that every part of a fit agrees on without talking to the others.

A prompt's fold is a hash of its text, so a chunk of a stream or a Dask partition knows the fold
of each of its prompts on its own, and the folds of a fit do not depend on how the data was cut.
The held-out prompts a fit is scored on are the ones with the smallest hashes (a bottom-k
sample): it merges associatively too, and it is a uniform sample of the data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ir3de_core.data.records import Record

__all__ = ["HeldOutSample", "fold_ids", "prompt_hash"]

SAMPLE_SIZE = 8192
"""Held-out prompts kept for scoring the candidates of a tuned fit (every prompt of a smaller
data set)."""

KEPT_WIDTH = 2048
"""Feature rows of the held-out prompts are kept with them up to this width (at most 128 MiB),
so that cross-validation does not featurize them again (a sentence encoder's forward pass, an
embedding API's bill); wider rows are recomputed when the candidates are scored."""


def prompt_hash(prompt: str) -> int:
    """A stable 64-bit hash of a prompt's text."""
    return int.from_bytes(hashlib.blake2b(prompt.encode("utf-8"), digest_size=8).digest(), "big")


def fold_ids(prompts: Sequence[str], folds: int) -> NDArray[np.intp]:
    """The fold of each prompt, in [0, folds): array of shape (n,)."""
    return np.array([prompt_hash(p) % folds for p in prompts], dtype=np.intp)


@dataclass(frozen=True, eq=False)
class HeldOutSample:
    """The records with the smallest prompt hashes (at most `SAMPLE_SIZE`): what candidates
    are scored on.

    Attributes:
        records: the kept records, by increasing hash.
        hashes: their hashes.
        features: array of shape (len(records), d), their feature rows (one per prompt), or
            None when not kept (token features, rows wider than `KEPT_WIDTH`, a resumed
            checkpoint, or a merge with a part that has none).
    """

    records: tuple[Record, ...] = ()
    hashes: tuple[int, ...] = ()
    features: NDArray[np.float64] | None = None

    @classmethod
    def of(
        cls, records: Sequence[Record], features: NDArray[np.float64] | None = None
    ) -> HeldOutSample:
        """The sample of `records` (with their feature rows, array of shape (n, d), if given)."""
        keyed = sorted((prompt_hash(r.prompt), i) for i, r in enumerate(records))[:SAMPLE_SIZE]
        kept = [i for _, i in keyed]
        rows = None
        if features is not None and features.shape[1] <= KEPT_WIDTH:
            rows = np.asarray(features, dtype=np.float64)[kept]
        return cls(tuple(records[i] for i in kept), tuple(h for h, _ in keyed), rows)

    def __add__(self, other: HeldOutSample) -> HeldOutSample:
        """The sample of both parts' records."""
        hashes = np.asarray((*self.hashes, *other.hashes), dtype=np.uint64)
        order = np.argsort(hashes, kind="stable")[:SAMPLE_SIZE]
        records = (*self.records, *other.records)
        features = None
        if self._joins(other):
            rows = [s.features for s in (self, other) if s.records and s.features is not None]
            features = np.concatenate(rows)[order]
        return HeldOutSample(
            tuple(records[i] for i in order.tolist()),
            tuple(int(hashes[i]) for i in order),
            features,
        )

    def _joins(self, other: HeldOutSample) -> bool:
        """Whether the merged sample keeps feature rows (both have them, or one is empty)."""
        mine, theirs = self.features, other.features
        if not self.records or not other.records:
            return (mine if self.records else theirs) is not None
        return mine is not None and theirs is not None and mine.shape[1] == theirs.shape[1]

    def __len__(self) -> int:
        return len(self.records)

    def folds(self, k: int) -> NDArray[np.intp]:
        """The fold of each kept record: array of shape (len,)."""
        return np.asarray([h % k for h in self.hashes], dtype=np.intp)
