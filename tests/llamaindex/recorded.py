"""Expert LLMs that replay recorded replies: LlamaIndex's own MockFunctionCallingLLM.

Used where the 270M model of the e2e tier cannot do the job (multi-turn tool calls) and for our
own error paths (an expert that fails).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
from llama_index.core.bridge.pydantic import Field
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events.base import BaseEvent
from llama_index.core.llms import MockFunctionCallingLLM

from ir3de_llamaindex.events import IR3DERoutingEvent

__all__ = ["Recorded", "recorded", "routing_events", "tool_call"]


class Recorded:
    """What an expert was sent, and the replies it still has to give."""

    def __init__(self, name: str, replies: list[ChatMessage], fail: BaseException | None) -> None:
        self.name = name
        self.replies = list(replies)
        self.fail = fail
        self.calls: list[dict[str, Any]] = []

    def __call__(self, messages: list[ChatMessage], **kwargs: Any) -> ChatMessage:
        if self.fail is not None:
            raise self.fail
        self.calls.append({"messages": list(messages), **kwargs})
        if self.replies:
            return self.replies.pop(0)
        return ChatMessage(role=MessageRole.ASSISTANT, content=f"{self.name} answers")


def recorded(
    name: str, replies: list[ChatMessage] | None = None, *, fail: BaseException | None = None
) -> tuple[MockFunctionCallingLLM, Recorded]:
    """A function-calling expert replaying `replies` (then ``"<name> answers"``), or failing."""
    log = Recorded(name, replies or [], fail)
    return MockFunctionCallingLLM(response_generator=log, is_chat_model=True), log


def tool_call(name: str, call_id: str = "call_1", **arguments: Any) -> ChatMessage:
    """An assistant turn that calls one tool, as a function-calling model returns it."""
    block = ToolCallBlock(tool_call_id=call_id, tool_name=name, tool_kwargs=arguments)
    return ChatMessage(role=MessageRole.ASSISTANT, blocks=[block])


class _Collector(BaseEventHandler):
    events: list[IR3DERoutingEvent] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        return "IR3DETestCollector"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        if isinstance(event, IR3DERoutingEvent):
            self.events.append(event)


@contextmanager
def routing_events() -> Iterator[list[IR3DERoutingEvent]]:
    """Collect the IR3DERoutingEvents emitted inside the block."""
    collector = _Collector(events=[])
    root = get_dispatcher()
    root.add_event_handler(collector)
    try:
        yield collector.events
    finally:
        root.event_handlers = [h for h in root.event_handlers if h is not collector]
