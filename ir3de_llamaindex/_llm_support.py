"""Helpers of `IR3DELLM`: the text a chat is routed on, stamping responses, tool-calling experts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, TypeVar

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import LLM

from ir3de_llamaindex.events import DECISION_KEY

__all__ = [
    "REACT_OBSERVATION",
    "calls_tools",
    "chat_text",
    "conversation",
    "stamp",
    "tool_caller",
    "tool_options",
]

T = TypeVar("T")
REACT_OBSERVATION = "Observation:"
"""A ReAct agent sends tool results back as user turns starting with this."""


def stamp(response: T, record: dict[str, Any]) -> T:
    """Record the decision in the response's ``additional_kwargs``."""
    response.additional_kwargs[DECISION_KEY] = record  # type: ignore[attr-defined]
    return response


def conversation(  # the messages a *_with_tools call will send
    user_msg: str | ChatMessage | None, chat_history: Sequence[ChatMessage] | None
) -> list[ChatMessage]:
    messages = list(chat_history or [])
    if isinstance(user_msg, str):
        messages.append(ChatMessage(role=MessageRole.USER, content=user_msg))
    elif user_msg is not None:
        messages.append(user_msg)
    return messages


def tool_options(  # the keyword arguments every *_with_tools call forwards
    chat_history: list[ChatMessage] | None,
    verbose: bool,
    allow_parallel_tool_calls: bool,
    tool_required: bool,
) -> dict[str, Any]:
    return {
        "chat_history": chat_history,
        "verbose": verbose,
        "allow_parallel_tool_calls": allow_parallel_tool_calls,
        "tool_required": tool_required,
    }


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
    """The text a chat is routed on (see `IR3DELLM.route_on`), or a ValueError."""
    if route_on == "last_user":
        for message in reversed(messages):
            content = (message.content or "").strip()
            if (
                message.role == MessageRole.USER
                and content
                and not content.startswith(REACT_OBSERVATION)
            ):
                return content
    text = "\n".join(m.content for m in messages if m.content and m.content.strip())
    if not text:
        msg = "the conversation has no text to route on; send at least one text message"
        raise ValueError(msg)
    return text
