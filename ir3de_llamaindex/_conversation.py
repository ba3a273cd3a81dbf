"""Conversations with `IR3DELLM`: a thread keeps its expert unless a turn is confidently another's.

The expert of a thread is the one that wrote its last assistant turn: named in the message's
``additional_kwargs["ir3de_decision"]`` (stamped on every reply), or, for a message rebuilt from
text without it (chat engines and the ReAct agent store ``ChatMessage(content=...)``), the expert
whose recent reply the message is or ends with. A last turn by anyone else holds nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole

from ir3de_llamaindex.events import DECISION_KEY

__all__ = [
    "REACT_OBSERVATION",
    "ReplyLog",
    "Turn",
    "is_user_turn",
    "thread_expert",
    "without_decisions",
]

REACT_OBSERVATION = "Observation:"
"""A ReAct agent sends tool results back as user turns starting with this."""


@dataclass(frozen=True)
class Turn:
    """What one call is routed on.

    Attributes:
        text: the text the router reads.
        held: the expert of the thread's last assistant turn (None: a new thread, or unknown).
        in_loop: no user turn since `held` answered (an agent's tool loop in progress).
    """

    text: str
    held: str | None = None
    in_loop: bool = False


def is_user_turn(message: ChatMessage) -> bool:
    """A message the user wrote (not a tool result, nor a ReAct ``Observation:`` turn)."""
    content = (message.content or "").strip()
    return (
        message.role == MessageRole.USER
        and bool(content)
        and not content.startswith(REACT_OBSERVATION)
    )


def thread_expert(
    messages: Sequence[ChatMessage], log: ReplyLog, experts: Collection[str]
) -> tuple[str | None, bool]:
    """The expert of the last assistant turn (None when it is not one of `experts`, or unknown),
    and whether no user turn followed it (a tool loop in progress)."""
    user_since = False
    for message in reversed(messages):
        if is_user_turn(message):
            user_since = True
        elif message.role == MessageRole.ASSISTANT:
            expert = _stamped_expert(message) or log.expert_of(message.content or "")
            return (expert, not user_since) if expert in experts else (None, False)
    return None, False


def _stamped_expert(message: ChatMessage) -> str | None:
    entry = message.additional_kwargs.get(DECISION_KEY)
    expert = entry.get("expert") if isinstance(entry, dict) else None
    return expert if isinstance(expert, str) else None


def without_decisions(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """The messages an expert is sent: copies without our decision in ``additional_kwargs``
    (some integrations forward ``additional_kwargs`` to their API)."""
    return [_without_decision(m) if DECISION_KEY in m.additional_kwargs else m for m in messages]


def _without_decision(message: ChatMessage) -> ChatMessage:
    kept = {k: v for k, v in message.additional_kwargs.items() if k != DECISION_KEY}
    return message.model_copy(update={"additional_kwargs": kept})


class ReplyLog:
    """The experts of an LLM's recent replies, by text.

    Args:
        size: replies remembered (the oldest are forgotten first).
        min_suffix: shortest reply matched at the end of a longer message.
    """

    def __init__(self, size: int = 1024, *, min_suffix: int = 16) -> None:
        self.size = size
        self.min_suffix = min_suffix
        self._experts: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, text: str | None, expert: str) -> None:
        """Remember that `expert` wrote `text`."""
        key = _normal(text or "")
        if not key:
            return
        with self._lock:
            self._experts[key] = expert
            self._experts.move_to_end(key)
            while len(self._experts) > self.size:
                self._experts.popitem(last=False)

    def expert_of(self, text: str) -> str | None:
        """The expert whose reply `text` is, else the most recent whose reply `text` ends with
        (a ReAct agent stores its steps joined, the last one being the reply)."""
        key = _normal(text)
        if not key:
            return None
        with self._lock:
            if key in self._experts:
                return self._experts[key]
            for reply, expert in reversed(self._experts.items()):
                if len(reply) >= self.min_suffix and key.endswith(reply):
                    return expert
        return None

    def __len__(self) -> int:
        return len(self._experts)

    def __getstate__(self) -> dict[str, object]:
        with self._lock:
            return {
                "size": self.size,
                "min_suffix": self.min_suffix,
                "experts": dict(self._experts),
            }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.size = state["size"]
        self.min_suffix = state["min_suffix"]
        self._experts = OrderedDict(state["experts"])
        self._lock = threading.Lock()


def _normal(text: str) -> str:
    return " ".join(text.split())
