"""What a routing decision carries: the expert, every expert's score, a confidence, a reason."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Contribution", "RoutingDecision"]


@dataclass(frozen=True)
class Contribution:
    """How much one piece of the prompt (a token or a word) pushed towards the chosen expert."""

    text: str
    weight: float


@dataclass(frozen=True)
class RoutingDecision:
    """The router's choice for one prompt.

    Attributes:
        expert: the chosen expert.
        scores: every expert's score (higher is better); in quality mode the predicted quality.
        confidence: in [0, 1]; the vote share (``vote``) or the softmax probability of the chosen
            expert over the scores (otherwise).
        domain: the predicted domain in domain mode, else None.
        fallback_from: experts tried before this one that failed (filled by adapters).
        explanation: the pieces of the prompt that contributed most (filled by ``explain``).
    """

    expert: str
    scores: dict[str, float]
    confidence: float
    domain: str | None = None
    fallback_from: tuple[str, ...] = ()
    explanation: tuple[Contribution, ...] = field(default=())

    def ranking(self) -> list[str]:
        """Experts from best to worst score (the chosen expert first)."""
        rest = sorted((e for e in self.scores if e != self.expert), key=lambda e: -self.scores[e])
        return [self.expert, *rest]

    @property
    def margin(self) -> float:
        """Score of the chosen expert minus the best other score (inf with one expert)."""
        others = [s for e, s in self.scores.items() if e != self.expert]
        return self.scores[self.expert] - max(others) if others else float("inf")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        out = asdict(self)
        out["fallback_from"] = list(self.fallback_from)
        out["explanation"] = [asdict(c) for c in self.explanation]
        return out
