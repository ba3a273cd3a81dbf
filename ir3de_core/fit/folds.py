"""Cross-validation folds that every part of a fit agrees on without talking to the others.

A prompt's fold is a hash of its text, so a chunk of a stream or a Dask partition knows the fold
of each of its prompts on its own, and the folds of a fit do not depend on how the data was cut.
The held-out prompts a fit is scored on are the ones with the smallest hashes (a bottom-k
sample): it merges associatively too, and it is a uniform sample of the data.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

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
    """The prompts with the smallest hashes (at most `SAMPLE_SIZE`) and what was observed on
    them, as arrays: what candidates are scored on.

    Attributes:
        prompts: the kept prompts, by increasing hash.
        hashes: array of shape (m,), their hashes (uint64).
        experts: the e experts with an observed score in the sample.
        scores: array of shape (m, e), observed scores (NaN: not observed).
        costs: array of shape (m, e), observed costs (NaN: not observed).
        domains: each prompt's domain label (None: unlabelled).
        features: array of shape (m, d), their feature rows (one per prompt), or None when not
            kept (token features, rows wider than `KEPT_WIDTH`, a resumed checkpoint, or a merge
            with a part that has none).
    """

    prompts: tuple[str, ...] = ()
    hashes: NDArray[np.uint64] = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))
    experts: tuple[str, ...] = ()
    scores: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 0)))
    costs: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 0)))
    domains: tuple[str | None, ...] = ()
    features: NDArray[np.float64] | None = None

    @classmethod
    def of_arrays(
        cls,
        prompts: Sequence[str],
        experts: Sequence[str],
        scores: NDArray[np.float64] | None = None,
        costs: NDArray[np.float64] | None = None,
        domains: Sequence[str | None] | None = None,
        features: NDArray[np.float64] | None = None,
    ) -> HeldOutSample:
        """The sample of n prompts with scores and costs (n, e) (NaN: unobserved), domain labels
        and feature rows (n, d), each optional; only the kept rows are copied."""
        n, e = len(prompts), len(experts)
        hashes = np.fromiter((prompt_hash(p) for p in prompts), dtype=np.uint64, count=n)
        kept = np.argsort(hashes, kind="stable")[:SAMPLE_SIZE]
        rows = None
        if features is not None and features.shape[1] <= KEPT_WIDTH:
            rows = np.asarray(features, dtype=np.float64)[kept]
        return cls(
            tuple(prompts[i] for i in kept.tolist()), hashes[kept], tuple(experts),
            _kept(scores, kept, e), _kept(costs, kept, e),
            tuple(domains[i] for i in kept.tolist()) if domains is not None else (None,) * kept.size,
            rows,
        )  # fmt: skip

    @classmethod
    def of(
        cls, records: Sequence[Record], features: NDArray[np.float64] | None = None
    ) -> HeldOutSample:
        """The sample of `records` (with their feature rows, array of shape (n, d), if given)."""
        experts = tuple(dict.fromkeys(e for r in records for e in r.scores))
        index = {e: j for j, e in enumerate(experts)}
        scores = np.full((len(records), len(experts)), np.nan)
        costs = np.full((len(records), len(experts)), np.nan)
        for i, record in enumerate(records):
            for expert, value in record.scores.items():
                scores[i, index[expert]] = value
            for expert, value in record.costs.items():
                if expert in index:
                    costs[i, index[expert]] = value
        return cls.of_arrays(
            [r.prompt for r in records], experts, scores, costs, [r.domain for r in records],
            features,
        )  # fmt: skip

    def __add__(self, other: HeldOutSample) -> HeldOutSample:
        """The sample of both parts' prompts."""
        experts = self.experts + tuple(e for e in other.experts if e not in self.experts)
        hashes = np.concatenate([self.hashes, other.hashes])
        order = np.argsort(hashes, kind="stable")[:SAMPLE_SIZE]
        features = None
        if self._joins(other):
            rows = [s.features for s in (self, other) if s.prompts and s.features is not None]
            features = np.concatenate(rows)[order]
        prompts = (*self.prompts, *other.prompts)
        domains = (*self.domains, *other.domains)
        scores = np.concatenate(
            [self.columns(experts, self.scores), other.columns(experts, other.scores)]
        )
        costs = np.concatenate(
            [self.columns(experts, self.costs), other.columns(experts, other.costs)]
        )
        return HeldOutSample(
            tuple(prompts[i] for i in order.tolist()), hashes[order], experts, scores[order],
            costs[order], tuple(domains[i] for i in order.tolist()), features,
        )  # fmt: skip

    def columns(self, experts: Sequence[str], values: NDArray[np.float64]) -> NDArray[np.float64]:
        """`values` (scores or costs, (m, e)) reordered as `experts`: NaN for one not here."""
        index = {e: j for j, e in enumerate(self.experts)}
        out = np.full((len(self.prompts), len(experts)), np.nan)
        for k, expert in enumerate(experts):
            if expert in index:
                out[:, k] = values[:, index[expert]]
        return out

    def _joins(self, other: HeldOutSample) -> bool:
        """Whether the merged sample keeps feature rows (both have them, or one is empty)."""
        mine, theirs = self.features, other.features
        if not self.prompts or not other.prompts:
            return (mine if self.prompts else theirs) is not None
        return mine is not None and theirs is not None and mine.shape[1] == theirs.shape[1]

    def __len__(self) -> int:
        return len(self.prompts)

    def folds(self, k: int) -> NDArray[np.intp]:
        """The fold of each kept prompt: array of shape (len,)."""
        return np.asarray(self.hashes % np.uint64(k), dtype=np.intp)

    def records(self) -> list[Record]:
        """The sample as records (for checkpoints and inspection)."""

        def observed(row: NDArray[np.float64]) -> dict[str, float]:
            return {e: float(v) for e, v in zip(self.experts, row.tolist(), strict=True)
                    if not math.isnan(v)}  # fmt: skip

        return [
            Record(p, observed(self.scores[i]), observed(self.costs[i]), self.domains[i])
            for i, p in enumerate(self.prompts)
        ]


def _kept(
    values: NDArray[np.float64] | None, kept: NDArray[np.intp], e: int
) -> NDArray[np.float64]:
    if values is None:  # nothing observed: a read-only broadcast, no n × e memory
        return np.broadcast_to(np.float64(np.nan), (kept.size, e))
    return np.asarray(values, dtype=np.float64)[kept]
