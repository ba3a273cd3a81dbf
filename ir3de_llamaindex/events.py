"""The instrumentation event `IR3DELLM` emits for every routed call."""

from __future__ import annotations

from typing import Any

from llama_index.core.instrumentation.events.base import BaseEvent

__all__ = ["DECISION_KEY", "IR3DERoutingEvent"]

DECISION_KEY = "ir3de_decision"
"""Key of the decision (``RoutingDecision.to_dict()``) in a response's ``additional_kwargs`` and
in its reply message's (how a conversation's next turn knows its expert):
the expert that answered, the policy ``rule`` that chose it, ``predicted_quality``, ``cost``,
``lam``, ``threshold``, every expert's score, probability and cost, and ``fallback_from``."""


class IR3DERoutingEvent(BaseEvent):
    """An `IR3DELLM` call was routed (emitted once the answering expert is known).

    Attributes:
        method: the LLM method called (``"chat"``, ``"astream_chat_with_tools"``...).
        decision: ``RoutingDecision.to_dict()`` as the call ended: ``expert`` (the one that
            answered), ``rule`` (``best``, ``cost``, ``default``, ``unsure``, ``forced``,
            ``sticky``),
            ``predicted_quality``, ``cost``, ``lam``, ``threshold``, every expert's score,
            probability and cost, the confidence and ``fallback_from`` (experts that failed
            first).
    """

    method: str
    decision: dict[str, Any]

    @classmethod
    def class_name(cls) -> str:
        """Name used when serialising."""
        return "IR3DERoutingEvent"
