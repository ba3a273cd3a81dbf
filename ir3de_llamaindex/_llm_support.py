"""Helpers of `IR3DELLM`: checking experts, recording decisions, tool-calling experts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import LLM

from ir3de_core import ExpertError, IR3DERouter, NotFittedError, RoutingDecision
from ir3de_llamaindex.events import DECISION_KEY, IR3DERoutingEvent

__all__ = [
    "calls_tools",
    "check_experts",
    "conversation",
    "emit",
    "stamp",
    "tool_caller",
    "tool_options",
]

T = TypeVar("T")
dispatcher = get_dispatcher("ir3de_llamaindex.llms")


def check_experts(router: object, experts: object) -> None:
    """A fitted router and one LLM per router expert, or an error naming the fix."""
    if not isinstance(router, IR3DERouter):
        msg = f"router must be a fitted IR3DERouter, got {type(router).__name__}"
        raise TypeError(msg)
    if not isinstance(experts, Mapping) or not experts:
        msg = "IR3DELLM needs at least one expert LLM: experts={'name': llm}"
        raise ValueError(msg)
    if not hasattr(router, "statistics_"):
        msg = "the router is not fitted; fit it (router.fit(prompts, experts)) before IR3DELLM"
        raise NotFittedError(msg)
    routed, given = set(router.experts_), set(experts)
    if routed != given:
        msg = (
            f"the router's experts {sorted(routed)} and experts= {sorted(given)} differ; "
            "give one LLM per router expert"
        )
        raise ExpertError(msg)


def emit(method: str, decision: RoutingDecision) -> dict[str, Any]:
    """Emit an `IR3DERoutingEvent` and return the decision as a dict."""
    record = decision.to_dict()
    dispatcher.event(IR3DERoutingEvent(method=method, decision=record))
    return record


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
