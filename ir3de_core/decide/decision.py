"""What a decision is made from (`ExpertScores`) and what it carries (`RoutingDecision`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from ir3de_core.decide.confidence import calibrated_probabilities

__all__ = ["Contribution", "ExpertScores", "RoutingDecision", "Rule"]

Rule = Literal["best", "cost", "default", "unsure", "forced", "sticky", "explore"]
"""Which rule of the policy chose the expert:

* ``best``: the highest predicted quality (probability in domain mode);
* ``cost``: the highest quality − λ·cost;
* ``default``: the prompt was below the policy's threshold and went to the default expert;
* ``unsure``: below the threshold with no default expert: the best one, flagged;
* ``forced``: the caller named the expert;
* ``sticky``: an adapter kept the expert of a conversation in progress;
* ``explore``: an exploring policy drew another expert than the greedy one.
"""


@dataclass(frozen=True)
class Contribution:
    """How much one piece of the prompt (a token or a word) pushed towards the chosen expert."""

    text: str
    weight: float


@dataclass(frozen=True, eq=False)
class ExpertScores:
    """Everything a policy decides from, for a batch of n prompts and k experts.

    Attributes:
        experts: the k expert names, in column order.
        scores: array of shape (n, k), the router's scores (higher is better).
        probabilities: array of shape (n, k), rows summing to 1: how sure the router is of each
            expert (vote shares, or a softmax of the scores).
        quality: array of shape (n, k), what costs are weighed against: predicted quality in
            quality mode, `probabilities` in domain mode.
        costs: array of shape (n, k), each expert's cost for each prompt, or None (unpriced).
        domains: the predicted domain of each prompt (domain mode), else None.
        prior: the expert that is best without looking at the prompt (the best single expert),
            or None when unknown; the safe default of an "unsure" prompt.
        spread: array of shape (n, k), √h of each predicted quality (what exploring policies
            explore with, `decide.uncertainty`), or None.
        novelty: array of shape (n,), how unlike the training data each prompt is
            (`decide.novelty`; 1 is a typical training row), or None.
    """

    experts: tuple[str, ...]
    scores: NDArray[np.float64]
    probabilities: NDArray[np.float64]
    quality: NDArray[np.float64]
    costs: NDArray[np.float64] | None = None
    domains: Sequence[str] | None = None
    prior: str | None = None
    spread: NDArray[np.float64] | None = None
    novelty: NDArray[np.float64] | None = None

    def __post_init__(self) -> None:
        shape = (self.scores.shape[0], len(self.experts))
        for name in ("scores", "probabilities", "quality", "costs", "spread"):
            value = getattr(self, name)
            if value is not None and value.shape != shape:
                msg = f"{name} has shape {value.shape}, expected {shape}"
                raise ValueError(msg)
        if self.novelty is not None and self.novelty.shape != shape[:1]:
            msg = f"novelty has shape {self.novelty.shape}, expected {shape[:1]}"
            raise ValueError(msg)

    @property
    def n(self) -> int:
        """Number of prompts."""
        return int(self.scores.shape[0])

    def at_temperature(self, temperature: float) -> ExpertScores:
        """This table with probabilities ``softmax(scores / temperature)`` (and, in domain mode,
        the quality that costs are weighed against, which is those probabilities)."""
        probabilities = calibrated_probabilities(self.scores, temperature)
        quality = probabilities if self.domains is not None else self.quality
        return replace(self, probabilities=probabilities, quality=quality)

    @classmethod
    def of_decision(cls, decision: RoutingDecision) -> ExpertScores:
        """The one-prompt table a decision was made from (to decide again, e.g. on fallback)."""
        experts = tuple(decision.scores)
        scores = np.array([[decision.scores[e] for e in experts]])
        probabilities = np.array([[decision.probabilities.get(e, 0.0) for e in experts]])
        quality = probabilities if decision.domain is not None else scores
        costs = None
        if decision.costs:
            costs = np.array([[decision.costs.get(e, np.nan) for e in experts]])
        domains = None if decision.domain is None else [decision.domain]
        novelty = None if decision.novelty is None else np.array([decision.novelty])
        return cls(
            experts, scores, probabilities, quality, costs, domains, decision.prior,
            novelty=novelty,
        )  # fmt: skip


@dataclass(frozen=True)
class RoutingDecision:
    """The router's choice for one prompt, and why.

    Attributes:
        expert: the chosen expert (the one that answered, after any fallback).
        scores: every expert's score (higher is better); in quality mode the predicted quality.
        confidence: in [0, 1]: the chosen expert's probability among the experts considered.
        domain: the predicted domain in domain mode, else None.
        rule: which rule of the policy chose the expert (see `Rule`).
        probabilities: every expert's probability (vote share, or softmax of the scores).
        costs: every expert's cost for this prompt (empty when the policy has no prices).
        lam: λ of a ``cost`` decision (quality − λ·cost), else None.
        threshold: the policy's threshold when it has one, else None.
        prior: the best expert without looking at the prompt (the safe default), if known.
        fallback_from: experts tried before this one that failed (filled by adapters).
        propensity: the probability the policy chose `expert` given the prompt (1 unless it
            explores).
        propensities: every expert's such probability (summing to 1; empty when not recorded).
        novelty: how unlike the training data the prompt is (`ir3de_core.decide.novelty`: 1 is
            a typical training row), None when not computed.
        explanation: the pieces of the prompt that contributed most (filled by ``explain``).
    """

    expert: str
    scores: dict[str, float]
    confidence: float
    domain: str | None = None
    rule: Rule = "best"
    probabilities: dict[str, float] = field(default_factory=dict)
    costs: dict[str, float] = field(default_factory=dict)
    lam: float | None = None
    threshold: float | None = None
    prior: str | None = None
    fallback_from: tuple[str, ...] = ()
    propensity: float = 1.0
    propensities: dict[str, float] = field(default_factory=dict)
    novelty: float | None = None
    explanation: tuple[Contribution, ...] = field(default=())

    @property
    def predicted_quality(self) -> float | None:
        """The chosen expert's predicted quality (quality mode), else None."""
        return self.scores[self.expert] if self.domain is None else None

    @property
    def cost(self) -> float | None:
        """The chosen expert's cost for this prompt, when the policy knows prices."""
        return self.costs.get(self.expert)

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
        """A JSON-serialisable dict (with ``predicted_quality`` and ``cost`` of the choice)."""
        out = asdict(self)
        out["fallback_from"] = list(self.fallback_from)
        out["explanation"] = [asdict(c) for c in self.explanation]
        out["predicted_quality"] = self.predicted_quality
        out["cost"] = self.cost
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RoutingDecision:
        """Inverse of `to_dict` (derived entries are ignored)."""
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        values["fallback_from"] = tuple(values.get("fallback_from", ()))
        values["explanation"] = tuple(Contribution(**c) for c in values.get("explanation", ()))
        return cls(**values)
