"""Sticky conversations: a conversation keeps its expert unless a new turn is confidently another's.

The rule is the adapters' (`ir3de_llamaindex`'s ``switch_confidence``): inside a tool-calling loop
the expert that asked for the tools answers; on a new user turn the conversation moves only when
the router picks another expert with confidence ≥ `switch_confidence`. Conversations are named by
a header or the request's ``user`` field and remembered by this gateway only (per replica).
"""

from __future__ import annotations

from collections.abc import Collection

from ir3de_core.decision import RoutingDecision
from ir3de_core.policy import RoutingPolicy
from ir3de_serve.config import StickyConfig
from ir3de_serve.memory import ExpiringMap

__all__ = ["Conversations", "keep_conversation"]


def keep_conversation(
    decision: RoutingDecision,
    held: str | None,
    *,
    in_loop: bool,
    policy: RoutingPolicy,
    available: Collection[str],
    switch_confidence: float,
) -> RoutingDecision:
    """`decision`, or the conversation's expert `held` kept (rule ``sticky``).

    Args:
        decision: the policy's decision for this turn.
        held: the expert that answered the conversation's last turn (None: a new conversation).
        in_loop: the request returns tool results to `held` (it always keeps the turn).
        policy: the policy that made `decision`.
        available: the experts that may answer now (a held expert that is not is let go).
        switch_confidence: the confidence a new turn needs to move to another expert.
    """
    if held is None or held == decision.expert or held not in available:
        return decision
    if not in_loop and decision.confidence >= switch_confidence:
        return decision
    return policy.force(decision, held, rule="sticky")


class Conversations:
    """The expert of each live conversation (bounded, idle ones expire)."""

    def __init__(self, config: StickyConfig) -> None:
        self.config = config
        self._experts: ExpiringMap[str, str] = ExpiringMap(
            config.max_conversations, config.ttl_seconds
        )

    def held(self, conversation: str | None) -> str | None:
        """The expert that answered `conversation` last, if it is remembered."""
        return None if conversation is None else self._experts.get(conversation)

    def remember(self, conversation: str | None, expert: str) -> None:
        """`expert` answered the latest turn of `conversation`."""
        if conversation is not None:
            self._experts.set(conversation, expert)

    def __len__(self) -> int:
        return len(self._experts)
