"""How a routing decision shows up in LangChain: run metadata, tags, events and messages."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from ir3de_core.decision import RoutingDecision

__all__ = [
    "IR3DE_KEY",
    "ROUTE_EVENT",
    "decision_from_metadata",
    "forced",
    "route_metadata",
    "route_tags",
    "sticky_expert",
]

IR3DE_KEY = "ir3de"
"""Key of the decision in `response_metadata` and prefix of run metadata keys and tags."""

ROUTE_EVENT = "ir3de_route"
"""Name of the custom event dispatched with each decision (see `astream_events`)."""


def route_metadata(decision: RoutingDecision) -> dict[str, Any]:
    """Run metadata for a decision: flat keys that tracing UIs can filter on."""
    return {
        "ir3de_expert": decision.expert,
        "ir3de_confidence": decision.confidence,
        "ir3de_scores": dict(decision.scores),
        "ir3de_domain": decision.domain,
        "ir3de_fallback_from": list(decision.fallback_from),
    }


def route_tags(expert: str) -> list[str]:
    """Tags of the run of the chosen expert: ``ir3de`` and ``ir3de:<expert>``."""
    return [IR3DE_KEY, f"{IR3DE_KEY}:{expert}"]


def forced(decision: RoutingDecision, expert: str) -> RoutingDecision:
    """The decision with `expert` chosen; the scores are kept so fallback still ranks the rest."""
    return dataclasses.replace(decision, expert=expert)


def decision_from_metadata(message: BaseMessage) -> dict[str, Any] | None:
    """The ``ir3de`` entry of an AI message's `response_metadata`, if it has one."""
    entry = message.response_metadata.get(IR3DE_KEY) if isinstance(message, AIMessage) else None
    return entry if isinstance(entry, dict) else None


def sticky_expert(messages: Sequence[BaseMessage]) -> str | None:
    """The expert of the tool-calling loop in progress, or None when a new turn starts.

    A loop is in progress when, after the last human message, an AI message routed by ir3de asked
    for tool calls: the state lives in the messages, so it works per thread without a store.
    """
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return None
        entry = decision_from_metadata(message)
        if entry is not None and isinstance(message, AIMessage) and message.tool_calls:
            expert = entry.get("expert")
            return expert if isinstance(expert, str) else None
    return None
