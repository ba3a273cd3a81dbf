"""`Completion`: what a gateway remembers of an answered completion until its feedback comes."""

from __future__ import annotations

import sys
from dataclasses import dataclass

__all__ = ["Completion"]


@dataclass(frozen=True)
class Completion:
    """An answered completion awaiting feedback.

    Attributes:
        text: the text the router read.
        expert: the expert that answered.
        rule: the rule that chose it.
    """

    text: str
    expert: str
    rule: str

    def nbytes(self) -> int:
        """The memory it holds, about (its text and the object)."""
        return sys.getsizeof(self.text) + 256
