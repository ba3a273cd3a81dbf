"""`RoutingPolicy`: the one place where per-expert scores (and costs) become decisions.

A policy is a small, validated value saved with the router. Its rules, applied in this order:

1. ``forced``: the caller names the expert (an adapter keeping a conversation's expert says
   ``sticky``);
2. ``best`` / ``cost``: the expert with the highest quality, or quality − λ·cost when the policy
   prices the experts and λ > 0 (λ is set directly or calibrated to a budget);
3. ``default``: when the chosen expert's confidence (or predicted quality) is below `threshold`,
   the `default` expert answers instead (the router's best single expert when `default` is
   None); ``unsure`` marks such a prompt when the policy flags instead (``unsure="flag"``) or
   no default expert is available.

Every rule sees only the experts available now: fallback after a failure is deciding again
without the experts that failed.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import NDArray

from ir3de_core.decide.decision import ExpertScores, RoutingDecision, Rule

__all__ = [
    "CHARS_PER_TOKEN",
    "SWITCH_CONFIDENCE",
    "Choices",
    "PriceUnit",
    "RoutingPolicy",
    "best_under_cost",
]

PriceUnit = Literal["1k_tokens", "query"]
ThresholdOn = Literal["confidence", "quality"]
Unsure = Literal["default", "flag"]
CHARS_PER_TOKEN = 4.0
"""Characters per token when a prompt's length in tokens is estimated for per-token prices."""
SWITCH_CONFIDENCE = 0.8
"""Default confidence a new turn needs to move a conversation to another expert
(`RoutingPolicy.keep`; the adapters' and the gateway's ``switch_confidence``)."""

_RULES: tuple[Rule, ...] = ("best", "cost", "default", "unsure", "forced", "sticky")


def best_under_cost(
    quality: NDArray[np.float64], costs: NDArray[np.float64] | None, lam: float
) -> NDArray[np.intp]:
    """The column maximising ``quality − lam · cost`` in each row (argmax when lam = 0).

    Args:
        quality: array of shape (n, k); ``-inf`` marks an expert that cannot be chosen.
        costs: array of shape (n, k), needed when lam > 0.
        lam: λ ≥ 0, the price of one unit of cost in units of quality.

    Returns:
        array of shape (n,).
    """
    if lam == 0 or costs is None:
        return np.asarray(quality.argmax(axis=1), dtype=np.intp)
    return np.asarray((quality - lam * costs).argmax(axis=1), dtype=np.intp)


@dataclass(frozen=True, eq=False)
class Choices:
    """A policy's choices for a batch, as arrays (the fast path of `predict`).

    Attributes:
        index: array of shape (n,), the chosen expert's column.
        rule: array of shape (n,), index into `RoutingPolicy.RULES` of the rule that chose it.
        confidence: array of shape (n,), the chosen expert's probability among those available.
    """

    index: NDArray[np.intp]
    rule: NDArray[np.intp]
    confidence: NDArray[np.float64]


@dataclass(frozen=True)
class RoutingPolicy:
    """How scores become a decision: argmax, quality − λ·cost, a threshold with a default.

    Attributes:
        prices: expert → price, per 1,000 prompt tokens or per query (`price_unit`); None when
            costs are unknown.
        price_unit: ``"1k_tokens"`` (the prompt's tokens, estimated as characters / 4, plus
            `output_tokens`) or ``"query"`` (a fixed price per call).
        output_tokens: tokens each answer is expected to add to a per-token bill.
        lam: λ ≥ 0, what one unit of cost is worth in units of quality (costs come from
            `prices`, or are given per prompt by the caller).
        budget: the average cost per query λ was calibrated for (a record; λ decides).
        threshold: below it (see `threshold_on`) a prompt goes to the default expert.
        threshold_on: ``"confidence"`` (the chosen expert's probability) or ``"quality"``
            (its predicted quality, quality mode).
        default: the expert of unsure prompts; None: the router's best single expert.
        unsure: ``"default"`` sends unsure prompts to the default expert; ``"flag"`` keeps the
            best expert and marks the decision ``unsure`` (for callers that refuse to guess).
    """

    prices: dict[str, float] | None = None
    price_unit: PriceUnit = "1k_tokens"
    output_tokens: float = 0.0
    lam: float = 0.0
    budget: float | None = None
    threshold: float | None = None
    threshold_on: ThresholdOn = "confidence"
    default: str | None = None
    unsure: Unsure = "default"
    RULES: ClassVar[tuple[Rule, ...]] = _RULES

    def __post_init__(self) -> None:
        if self.prices is not None:
            if not isinstance(self.prices, Mapping) or not self.prices:
                msg = "prices must map expert names to prices, e.g. {'gpt-4o': 2.5}"
                raise ValueError(msg)
            checked = {str(e): _number(f"price of {e!r}", p) for e, p in self.prices.items()}
            object.__setattr__(self, "prices", checked)
        _choice("price_unit", self.price_unit, ("1k_tokens", "query"))
        _choice("threshold_on", self.threshold_on, ("confidence", "quality"))
        _choice("unsure", self.unsure, ("default", "flag"))
        object.__setattr__(self, "output_tokens", _number("output_tokens", self.output_tokens))
        object.__setattr__(self, "lam", _number("lam", self.lam))
        if self.budget is not None:
            object.__setattr__(self, "budget", _number("budget", self.budget))
        if self.threshold is not None:
            object.__setattr__(self, "threshold", _threshold(self.threshold, self.threshold_on))
        if self.default is not None and (not isinstance(self.default, str) or not self.default):
            msg = f"default must be an expert name or None, got {self.default!r}"
            raise ValueError(msg)

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """The policy as JSON-compatible values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RoutingPolicy:
        """A policy from `to_dict` output, validated (unknown keys are refused)."""
        if not isinstance(data, Mapping):
            msg = f"a policy must be a JSON object, got {type(data).__name__}"
            raise ValueError(msg)
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            msg = f"unknown policy field(s) {unknown}; known: {sorted(names)}"
            raise ValueError(msg)
        return cls(**data)

    @classmethod
    def of(cls, value: RoutingPolicy | Mapping[str, Any] | None) -> RoutingPolicy:
        """A policy from a policy, its dict, or None (the default: the best score)."""
        if value is None:
            return cls()
        if isinstance(value, RoutingPolicy):
            return value
        if not isinstance(value, Mapping):
            msg = f"policy must be a RoutingPolicy, its dict or None, got {type(value).__name__}"
            raise TypeError(msg)
        return cls.from_dict(value)

    def replace(self, **changes: Any) -> RoutingPolicy:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    # ------------------------------------------------------------------ costs
    def costs(self, prompts: Sequence[str], experts: Sequence[str]) -> NDArray[np.float64] | None:
        """Each expert's cost for each prompt from the prices: shape (n, k); None if unpriced.

        Raises:
            ValueError: when an expert has no price.
        """
        if self.prices is None:
            return None
        missing = [e for e in experts if e not in self.prices]
        if missing:
            msg = f"the policy has no price for expert(s) {missing}; give a price for every expert"
            raise ValueError(msg)
        price = np.array([self.prices[e] for e in experts])
        if self.price_unit == "query":
            return np.broadcast_to(price, (len(prompts), len(experts))).copy()
        tokens = np.array([len(p) / CHARS_PER_TOKEN + self.output_tokens for p in prompts])
        return np.outer(tokens, price / 1000.0)

    # ------------------------------------------------------------------ deciding
    def choose(
        self,
        table: ExpertScores,
        *,
        available: Collection[str] | None = None,
        forced: str | None = None,
    ) -> Choices:
        """Apply the rules to every prompt of `table` (see the module docstring).

        Args:
            table: the scores, probabilities, qualities and costs of n prompts.
            available: the experts that may be chosen (None: all of them).
            forced: an expert that must answer every prompt.

        Raises:
            ValueError: an unknown or unavailable forced expert, no available expert, NaN
                scores, or λ > 0 without costs.
        """
        mask = _availability(table.experts, available)
        n = table.n
        if forced is not None:
            j = _column(table.experts, forced, "forced expert")
            if not mask[j]:
                msg = f"forced expert {forced!r} is not available; available: {_names(table, mask)}"
                raise ValueError(msg)
            probabilities = _renormalised(table.probabilities, mask)
            index = np.full(n, j, dtype=np.intp)
            return Choices(index, np.full(n, _RULES.index("forced")), probabilities[:, j])
        if np.isnan(table.quality).any():
            msg = "the router produced NaN scores (non-finite features?); check the prompts"
            raise ValueError(msg)
        costs = self._costs_of(table)
        quality = np.where(mask, table.quality, -np.inf)
        index = best_under_cost(quality, costs, self.lam if costs is not None else 0.0)
        priced = self.lam > 0 and costs is not None
        rule = np.full(n, _RULES.index("cost" if priced else "best"), dtype=np.intp)
        probabilities = _renormalised(table.probabilities, mask)
        rows = np.arange(n)
        if self.threshold is not None:
            measure = probabilities if self.threshold_on == "confidence" else table.quality
            unsure = measure[rows, index] < self.threshold
            fallback = self._default_column(table, mask)
            if fallback is None:
                rule[unsure] = _RULES.index("unsure")
            else:
                index = np.where(unsure, fallback, index).astype(np.intp)
                rule[unsure] = _RULES.index("default")
        return Choices(index, rule, probabilities[rows, index])

    def decide(
        self,
        table: ExpertScores,
        *,
        available: Collection[str] | None = None,
        forced: str | None = None,
        forced_rule: Rule = "forced",
    ) -> list[RoutingDecision]:
        """One `RoutingDecision` per prompt of `table` (arguments as in `choose`)."""
        choices = self.choose(table, available=available, forced=forced)
        experts, domains = table.experts, table.domains
        probabilities = _renormalised(table.probabilities, _availability(experts, available))
        decisions = []
        for i, (j, r) in enumerate(zip(choices.index.tolist(), choices.rule.tolist(), strict=True)):
            rule = forced_rule if forced is not None else _RULES[r]
            decisions.append(
                RoutingDecision(
                    expert=experts[j],
                    scores=dict(zip(experts, table.scores[i].tolist(), strict=True)),
                    confidence=float(choices.confidence[i]),
                    domain=None if domains is None else domains[i],
                    rule=rule,
                    probabilities=dict(zip(experts, probabilities[i].tolist(), strict=True)),
                    costs={} if table.costs is None else _row(experts, table.costs[i]),
                    lam=self.lam if rule == "cost" else None,
                    threshold=self.threshold,
                    prior=table.prior,
                )
            )
        return decisions

    def decide_again(
        self, decision: RoutingDecision, *, available: Collection[str]
    ) -> RoutingDecision:
        """The decision among `available` experts only, from the numbers of `decision`.

        Fallback uses it: after an expert fails, decide again without it.
        """
        table = ExpertScores.of_decision(decision)
        again = self.decide(table, available=available)[0]
        return replace(again, explanation=decision.explanation)

    def force(
        self, decision: RoutingDecision, expert: str, *, rule: Rule = "forced"
    ) -> RoutingDecision:
        """The decision with `expert` chosen by `rule` (``forced`` or ``sticky``)."""
        table = ExpertScores.of_decision(decision)
        forced = self.decide(table, forced=expert, forced_rule=rule)[0]
        return replace(forced, explanation=decision.explanation)

    def keep(
        self,
        decision: RoutingDecision,
        held: str | None,
        *,
        in_loop: bool,
        available: Collection[str],
        switch_confidence: float | None,
    ) -> RoutingDecision:
        """`decision`, or a conversation's expert `held` kept (rule ``sticky``).

        The conversation's expert is kept inside a tool loop (`in_loop`: the turn returns tool
        results to `held`), and across turns unless `decision` picks another expert with
        confidence ≥ `switch_confidence` (None: every new turn decides). A held expert that is
        not `available` is let go; None for `held` is a new conversation.
        """
        if held is None or held == decision.expert or held not in available:
            return decision
        if not in_loop and (switch_confidence is None or decision.confidence >= switch_confidence):
            return decision
        return self.force(decision, held, rule="sticky")

    # ------------------------------------------------------------------ internals
    def _costs_of(self, table: ExpertScores) -> NDArray[np.float64] | None:
        if self.lam == 0:
            return table.costs
        if table.costs is None:
            msg = "the policy weighs costs (lam > 0) but no costs were given for these prompts"
            raise ValueError(msg)
        if np.isnan(table.costs).any():
            msg = "costs contain NaN; give a price for every expert"
            raise ValueError(msg)
        return table.costs

    def _default_column(self, table: ExpertScores, mask: NDArray[np.bool_]) -> int | None:
        """The column of the default expert, None when flagging, unknown or unavailable."""
        if self.unsure == "flag":
            return None
        name = self.default if self.default is not None else table.prior
        if name is None:
            return None
        if name not in table.experts:
            msg = f"default expert {name!r} is not one of the router's experts {table.experts}"
            raise ValueError(msg)
        j = table.experts.index(name)
        return j if mask[j] else None


def _availability(experts: tuple[str, ...], available: Collection[str] | None) -> NDArray[np.bool_]:
    if available is None:
        return np.ones(len(experts), dtype=bool)
    mask = np.array([e in available for e in experts], dtype=bool)
    if not mask.any():
        msg = f"none of the router's experts {list(experts)} is available (given {list(available)})"
        raise ValueError(msg)
    return mask


def _renormalised(
    probabilities: NDArray[np.float64], mask: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """Probabilities over the available experts only: shape (n, k), zero where unavailable."""
    if mask.all():
        return probabilities
    kept = np.where(mask, probabilities, 0.0)
    total = kept.sum(axis=1, keepdims=True)
    uniform = np.broadcast_to(mask / mask.sum(), kept.shape)
    return np.where(total > 0, kept / np.where(total > 0, total, 1.0), uniform)


def _column(experts: tuple[str, ...], name: str, what: str) -> int:
    if name not in experts:
        msg = f"{what} {name!r} is not one of the router's experts {list(experts)}"
        raise ValueError(msg)
    return experts.index(name)


def _names(table: ExpertScores, mask: NDArray[np.bool_]) -> list[str]:
    return [e for e, ok in zip(table.experts, mask.tolist(), strict=True) if ok]


def _row(experts: tuple[str, ...], values: NDArray[np.float64]) -> dict[str, float]:
    return dict(zip(experts, values.tolist(), strict=True))


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        msg = f"{name}={value!r} is not one of {allowed}"
        raise ValueError(msg)


def _threshold(value: Any, on: ThresholdOn) -> float | None:
    """A threshold: a probability for ``confidence``; any number (or +inf: always the
    default) for ``quality``; -inf (never the default) is no threshold at all."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        msg = f"threshold must be a number or None, got {value!r}"
        raise ValueError(msg)
    threshold = float(value)
    if on == "confidence" and not (0.0 <= threshold <= 1.0 or threshold == math.inf):
        msg = f"a confidence threshold is a probability in [0, 1] (or inf: always), got {value!r}"
        raise ValueError(msg)
    return None if threshold == -math.inf else threshold


def _number(name: str, value: Any, *, low: float = 0.0) -> float:
    """A finite number ≥ `low` (or any finite number when `low` is -inf)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        msg = f"{name} must be a number, got {value!r}"
        raise ValueError(msg)
    number = float(value)
    if not math.isfinite(number) or number < low:
        msg = f"{name} must be a finite number ≥ {low:g}, got {value!r}"
        raise ValueError(msg)
    return number
