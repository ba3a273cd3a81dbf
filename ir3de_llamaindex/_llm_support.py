"""Helpers of `IR3DELLM`: the text a chat is routed on, stamping responses, tool-calling experts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, TypeVar

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import LLM

from ir3de_llamaindex._conversation import is_user_turn
from ir3de_llamaindex._queries import query_in_text
from ir3de_llamaindex.events import DECISION_KEY

__all__ = [
    "calls_tools",
    "chat_text",
    "conversation",
    "reply_text",
    "stamp",
    "tool_caller",
]

T = TypeVar("T")


def stamp(response: T, record: dict[str, Any]) -> T:
    """Record the decision in the response's ``additional_kwargs``, and in its message's (so
    that the thread's next turn knows which expert wrote it)."""
    response.additional_kwargs[DECISION_KEY] = record  # type: ignore[attr-defined]
    message = getattr(response, "message", None)
    if isinstance(message, ChatMessage):
        message.additional_kwargs[DECISION_KEY] = record
    return response


def reply_text(response: object) -> str | None:
    """The text of a chat or completion response (the full text on a stream's last chunk)."""
    message = getattr(response, "message", None)
    if isinstance(message, ChatMessage):
        return message.content
    text = getattr(response, "text", None)
    return text if isinstance(text, str) else None


def conversation(  # the messages a *_with_tools call will send
    user_msg: str | ChatMessage | None, chat_history: Sequence[ChatMessage] | None
) -> list[ChatMessage]:
    messages = list(chat_history or [])
    if isinstance(user_msg, str):
        messages.append(ChatMessage(role=MessageRole.USER, content=user_msg))
    elif user_msg is not None:
        messages.append(user_msg)
    return messages


def calls_tools(llm: LLM) -> bool:
    """Whether the LLM is a function-calling model."""
    return isinstance(llm, FunctionCallingLLM) and llm.metadata.is_function_calling_model


def tool_caller(llm: LLM) -> FunctionCallingLLM:
    """The LLM as a FunctionCallingLLM, or a TypeError."""
    if not isinstance(llm, FunctionCallingLLM):
        msg = f"{type(llm).__name__} is not a FunctionCallingLLM and cannot call tools"
        raise TypeError(msg)
    return llm


def chat_text(
    messages: Sequence[ChatMessage], route_on: Literal["last_user", "conversation"]
) -> str:
    """The text a chat is routed on (see `IR3DELLM.route_on`), or a ValueError.

    A message formatted from one of LlamaIndex's query templates counts as its query.
    """
    if route_on == "last_user":
        for message in reversed(messages):
            if is_user_turn(message):
                return _query(message.content or "")
    text = "\n".join(_query(m.content) for m in messages if m.content and m.content.strip())
    if not text:
        msg = "the conversation has no text to route on; send at least one text message"
        raise ValueError(msg)
    return text


def _query(text: str) -> str:
    return query_in_text(text) or text.strip()
