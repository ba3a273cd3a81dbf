"""How a routing decision shows up in LangChain: run metadata, tags, events and messages."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from ir3de_core.decide.decision import RoutingDecision
from ir3de_core.decide.policy import SWITCH_CONFIDENCE, RoutingPolicy
from ir3de_core.router import IR3DERouter

__all__ = [
    "IR3DE_KEY",
    "ROUTE_EVENT",
    "SWITCH_CONFIDENCE",
    "check_switch_confidence",
    "decide_conversation",
    "decision_from_metadata",
    "route_metadata",
    "route_tags",
    "thread_expert",
]

IR3DE_KEY = "ir3de"
"""Key of the decision in `response_metadata` and prefix of run metadata keys and tags."""

ROUTE_EVENT = "ir3de_route"
"""Name of the custom event dispatched with each decision (see `astream_events`)."""


def route_metadata(decision: RoutingDecision) -> dict[str, Any]:
    """Run metadata for a decision: flat keys that tracing UIs can filter on.

    ``ir3de_rule`` says which rule of the policy chose the expert (``best``, ``cost``,
    ``default``, ``unsure``, ``forced`` or ``sticky``); ``ir3de_predicted_quality`` and
    ``ir3de_cost`` are the chosen expert's (None when unknown); ``ir3de_lam`` and
    ``ir3de_threshold`` are the policy's λ (of a ``cost`` decision) and threshold.
    """
    return {
        "ir3de_expert": decision.expert,
        "ir3de_rule": decision.rule,
        "ir3de_confidence": decision.confidence,
        "ir3de_scores": dict(decision.scores),
        "ir3de_domain": decision.domain,
        "ir3de_predicted_quality": decision.predicted_quality,
        "ir3de_cost": decision.cost,
        "ir3de_lam": decision.lam,
        "ir3de_threshold": decision.threshold,
        "ir3de_fallback_from": list(decision.fallback_from),
    }


def route_tags(expert: str) -> list[str]:
    """Tags of the run of the chosen expert: ``ir3de`` and ``ir3de:<expert>``."""
    return [IR3DE_KEY, f"{IR3DE_KEY}:{expert}"]


def decision_from_metadata(message: BaseMessage) -> dict[str, Any] | None:
    """The ``ir3de`` entry of an AI message's `response_metadata`, if it has one."""
    entry = message.response_metadata.get(IR3DE_KEY) if isinstance(message, AIMessage) else None
    return entry if isinstance(entry, dict) else None


def thread_expert(messages: Sequence[BaseMessage]) -> tuple[str | None, bool]:
    """The expert of a conversation so far, and whether a tool-calling loop is in progress.

    The expert is that of the last AI message routed by ir3de (its ``response_metadata``), so
    the state lives in the messages: it works per thread without a store. A loop is in progress
    when, after the last human message, such a message asked for tool calls.
    """
    turn = True  # still after the last human message
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            turn = False
            continue
        entry = decision_from_metadata(message)
        if entry is None:
            continue
        expert = entry.get("expert")
        loop = turn and isinstance(message, AIMessage) and bool(message.tool_calls)
        return (expert if isinstance(expert, str) else None), loop
    return None, False


def check_switch_confidence(value: float) -> float:
    """`value` if it is a probability, else a ValueError naming the setting."""
    if not 0.0 <= value <= 1.0:
        msg = f"switch_confidence must be in [0, 1], got {value!r}"
        raise ValueError(msg)
    return value


def decide_conversation(
    router: IR3DERouter,
    text: str,
    messages: Sequence[BaseMessage],
    *,
    policy: RoutingPolicy,
    available: Collection[str],
    forced: str | None = None,
    sticky: bool = True,
    switch_confidence: float = 0.0,
) -> RoutingDecision:
    """The policy's decision for one step of a conversation whose routed text is `text`.

    `forced` names the expert (rule ``forced``). Otherwise, with `sticky`, the conversation's
    expert (see `thread_expert`) keeps it, rule ``sticky``: always inside a tool-calling loop;
    on a new turn unless the policy chose another expert with a confidence of at least
    `switch_confidence` (0: every new turn is routed anew). Otherwise the policy chooses among
    `available` (``best``, ``cost``, ``default`` or ``unsure``).
    """
    decision = router.route([text], policy=policy, available=available, forced=forced)[0]
    if forced is not None or not sticky:
        return decision
    held, loop = thread_expert(messages)
    if held is None or held not in available or (held == decision.expert and not loop):
        return decision
    if loop or decision.confidence < switch_confidence:
        return policy.force(decision, held, rule="sticky")
    return decision
