"""Explicit truncation of long prompts: keep the head, the tail, or both."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from ir3de_core.featurizers.checks import count

__all__ = ["Truncation", "TruncationStrategy"]

TruncationStrategy = Literal["head", "tail", "head+tail"]


@dataclass(frozen=True)
class Truncation:
    """How to shorten a sequence of tokens longer than `max_tokens`.

    ``head`` keeps the start (instructions), ``tail`` keeps the end (the question of a few-shot
    prompt), ``head+tail`` keeps a quarter of the budget from the start and the rest from the end.
    ``max_tokens=None`` keeps everything.
    """

    max_tokens: int | None = 256
    strategy: TruncationStrategy = "head+tail"

    def __post_init__(self) -> None:
        if self.strategy not in ("head", "tail", "head+tail"):
            msg = (
                f"unknown truncation strategy {self.strategy!r}; use 'head', 'tail' or 'head+tail'"
            )
            raise ValueError(msg)
        if self.max_tokens is not None:
            object.__setattr__(self, "max_tokens", count("max_tokens", self.max_tokens))

    def keep(self, n: int) -> NDArray[np.intp]:
        """Indices (sorted) of the positions to keep out of `n`."""
        limit = self.max_tokens
        if limit is None or n <= limit:
            return np.arange(n)
        if self.strategy == "head":
            return np.arange(limit)
        if self.strategy == "tail":
            return np.arange(n - limit, n)
        head = limit // 4
        return np.concatenate([np.arange(head), np.arange(n - (limit - head), n)])

    def spans(self, n: int) -> list[tuple[int, int]]:
        """The kept positions as half-open (start, end) runs."""
        kept = self.keep(n)
        if kept.size == 0:
            return []
        breaks = np.flatnonzero(np.diff(kept) != 1)
        starts = np.concatenate([[kept[0]], kept[breaks + 1]])
        ends = np.concatenate([kept[breaks] + 1, [kept[-1] + 1]])
        return [(int(s), int(e)) for s, e in zip(starts, ends, strict=True)]
