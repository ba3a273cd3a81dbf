"""`RoutingPolicy`: the one place where per-expert scores (and costs) become decisions.

A policy is a small, validated value saved with the router. Its rules, applied in this order:

1. ``forced``: the caller names the expert (an adapter keeping a conversation's expert says
   ``sticky``);
2. ``best`` / ``cost``: the expert with the highest quality, or quality − λ·cost when the policy
   prices the experts and λ > 0 (λ is set directly or calibrated to a budget);
3. ``default``: when the chosen expert's confidence (or predicted quality) is below `threshold`,
   or the prompt's novelty is above `novelty_threshold`, the `default` expert answers instead (the router's best single expert when `default` is
   None); ``unsure`` marks such a prompt when the policy flags instead (``unsure="flag"``) or
   no default expert is available.

Every rule sees only the experts available now: fallback after a failure is deciding again
without the experts that failed.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import NDArray

from ir3de_core.decide.checks import (
    Choices,
    availability,
    choice,
    column,
    expert_names,
    fraction,
    number,
    renormalised,
    row_dict,
    threshold_value,
)
from ir3de_core.decide.decision import ExpertScores, RoutingDecision, Rule
from ir3de_core.decide.explore import (
    ExplorationStream,
    Explore,
    exploration_probabilities,
    sample_experts,
)
from ir3de_core.decide.novelty import novelty_threshold_value, prompt_novelty, unsure_prompts

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

_RULES: tuple[Rule, ...] = ("best", "cost", "default", "unsure", "forced", "sticky", "explore")


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


_FLOOR_FIX = (
    "the part of explore_share spread uniformly over the available experts: e.g. 0.1, 0 for none"
)


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
        novelty_threshold: above it a prompt is unlike the training data (`decide.novelty`)
            and goes to the default expert too; None: no novelty rule.
        default: the expert of unsure prompts; None: the router's best single expert.
        unsure: ``"default"`` sends unsure prompts to the default expert; ``"flag"`` keeps the
            best expert and marks the decision ``unsure`` (for callers that refuse to guess).
        explore: ``"linucb"``, ``"thompson"`` or None (greedy): see `ir3de_core.decide.explore`.
        explore_strength: LinUCB's bonus multiplier / the Thompson posterior's scale (≥ 0).
        explore_share: the largest share of traffic that may deviate from greedy, in [0, 1].
        explore_floor: the part of that share spread uniformly over the available experts,
            in [0, 1]: every available expert is logged with probability ≥ share · floor / k,
            so off-policy estimates cover any candidate (0: the rule alone).
        explore_seed: the seed of the policy's random stream (None: not reproducible).
    """

    prices: dict[str, float] | None = None
    price_unit: PriceUnit = "1k_tokens"
    output_tokens: float = 0.0
    lam: float = 0.0
    budget: float | None = None
    threshold: float | None = None
    threshold_on: ThresholdOn = "confidence"
    novelty_threshold: float | None = None
    default: str | None = None
    unsure: Unsure = "default"
    explore: Explore | None = None
    explore_strength: float = 1.0
    explore_share: float = 0.2
    explore_floor: float = 0.1
    explore_seed: int | None = None
    RULES: ClassVar[tuple[Rule, ...]] = _RULES

    def __post_init__(self) -> None:
        if self.prices is not None:
            if not isinstance(self.prices, Mapping) or not self.prices:
                msg = "prices must map expert names to prices, e.g. {'gpt-4o': 2.5}"
                raise ValueError(msg)
            checked = {str(e): number(f"price of {e!r}", p) for e, p in self.prices.items()}
            object.__setattr__(self, "prices", checked)
        choice("price_unit", self.price_unit, ("1k_tokens", "query"))
        choice("threshold_on", self.threshold_on, ("confidence", "quality"))
        choice("unsure", self.unsure, ("default", "flag"))
        object.__setattr__(self, "output_tokens", number("output_tokens", self.output_tokens))
        object.__setattr__(self, "lam", number("lam", self.lam))
        if self.budget is not None:
            object.__setattr__(self, "budget", number("budget", self.budget))
        if self.threshold is not None:
            object.__setattr__(
                self, "threshold", threshold_value(self.threshold, self.threshold_on)
            )
        novelty = novelty_threshold_value(self.novelty_threshold)
        object.__setattr__(self, "novelty_threshold", novelty)
        if self.default is not None and (not isinstance(self.default, str) or not self.default):
            msg = f"default must be an expert name or None, got {self.default!r}"
            raise ValueError(msg)
        if self.explore is not None:
            choice("explore", self.explore, ("linucb", "thompson"))
        object.__setattr__(
            self, "explore_strength", number("explore_strength", self.explore_strength)
        )
        object.__setattr__(self, "explore_share", number("explore_share", self.explore_share))
        if self.explore_share > 1 or not isinstance(self.explore_seed, int | None):
            msg = "explore_share must be in [0, 1] and explore_seed an integer or None"
            raise ValueError(msg)
        floor = fraction("explore_floor", self.explore_floor, _FLOOR_FIX)
        object.__setattr__(self, "explore_floor", floor)
        object.__setattr__(self, "_stream", ExplorationStream(self.explore_seed))

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
        rng: np.random.Generator | None = None,
    ) -> Choices:
        """Apply the rules to every prompt of `table` (see the module docstring).

        Args:
            table: the scores, probabilities, qualities and costs of n prompts.
            available: the experts that may be chosen (None: all of them).
            forced: an expert that must answer every prompt.
            rng: the exploring policy's draws (None: its own seeded stream); a policy explores
                only when `table` has a spread (`RoutedState.score_of(..., spread=True)`).

        Raises:
            ValueError: an unknown or unavailable forced expert, no available expert, NaN
                scores, or λ > 0 without costs.
        """
        mask = availability(table.experts, available)
        n = table.n
        if forced is not None:
            j = column(table.experts, forced, "forced expert")
            if not mask[j]:
                msg = f"forced expert {forced!r} is not available; available: {expert_names(table, mask)}"
                raise ValueError(msg)
            probabilities = renormalised(table.probabilities, mask)
            index = np.full(n, j, dtype=np.intp)
            rule, p = np.full(n, _RULES.index("forced")), probabilities[:, j]
            return Choices(index, rule, p, len(table.experts))
        if table.quality.size and np.isnan(table.quality.max()):  # max propagates NaN: no n×k temp
            msg = "the router produced NaN scores (non-finite features?); check the prompts"
            raise ValueError(msg)
        costs = self._costs_of(table)
        quality = table.quality if mask.all() else np.where(mask, table.quality, -np.inf)
        index = best_under_cost(quality, costs, self.lam if costs is not None else 0.0)
        priced = self.lam > 0 and costs is not None
        rule = np.full(n, _RULES.index("cost" if priced else "best"), dtype=np.intp)
        probabilities = renormalised(table.probabilities, mask)
        rows = np.arange(n)
        unsure = unsure_prompts(self, table, probabilities, index)
        if unsure is not None:
            fallback = self._default_column(table, mask)
            if fallback is None:
                rule[unsure] = _RULES.index("unsure")
            else:
                index = np.where(unsure, fallback, index).astype(np.intp)
                rule[unsure] = _RULES.index("default")
        if self.explore is None or table.spread is None:
            return Choices(index, rule, probabilities[rows, index], mask.size)
        explorable = rule <= _RULES.index("cost")
        value = quality if costs is None or self.lam == 0 else quality - self.lam * costs

        def draw(g: np.random.Generator) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
            p = exploration_probabilities(
                value, table.spread, index, explorable, method=self.explore,  # type: ignore[arg-type]
                strength=self.explore_strength, share=self.explore_share, rng=g,
                floor=self.explore_floor,
            )  # fmt: skip
            return p, sample_experts(p, g)

        p, chosen = draw(rng) if rng is not None else self._stream.draw(draw)  # type: ignore[attr-defined]
        rule[chosen != index] = _RULES.index("explore")
        return Choices(chosen, rule, probabilities[rows, chosen], mask.size, p)

    def decide(
        self,
        table: ExpertScores,
        *,
        available: Collection[str] | None = None,
        forced: str | None = None,
        forced_rule: Rule = "forced",
        rng: np.random.Generator | None = None,
    ) -> list[RoutingDecision]:
        """One `RoutingDecision` per prompt of `table` (arguments as in `choose`)."""
        choices = self.choose(table, available=available, forced=forced, rng=rng)
        experts, domains = table.experts, table.domains
        probabilities = renormalised(table.probabilities, availability(experts, available))
        decisions, propensities = [], choices.propensities
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
                    costs={} if table.costs is None else row_dict(experts, table.costs[i]),
                    lam=self.lam if rule == "cost" else None,
                    threshold=self.threshold,
                    prior=table.prior,
                    propensity=float(propensities[i, j]),
                    propensities=row_dict(experts, propensities[i]),
                    novelty=prompt_novelty(table, i),
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
