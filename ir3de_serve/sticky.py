"""Sticky conversations: a conversation keeps its expert unless a new turn is confidently another's.

The rule is `RoutingPolicy.keep`, as in `ir3de_llamaindex` (``switch_confidence``): inside a
tool-calling loop the expert that asked for the tools answers; on a new user turn the conversation
moves only when the router picks another expert with confidence ≥ `switch_confidence`. Conversations are named by
a header or the request's ``user`` field and remembered by this gateway only (per replica).
"""

from __future__ import annotations

from ir3de_serve.config import StickyConfig
from ir3de_serve.memory import ExpiringMap

__all__ = ["Conversations"]


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
