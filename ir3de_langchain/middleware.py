"""Agent middleware: route the model of each agent step, and narrow many tools to the likely few."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
from langchain.chat_models import init_chat_model
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    MessageLikeRepresentation,
    convert_to_messages,
)
from langchain_core.tools import BaseTool
from langgraph.errors import GraphBubbleUp

from ir3de_core.decision import RoutingDecision
from ir3de_core.fallback import acall_with_fallback, call_with_fallback
from ir3de_core.router import IR3DERouter
from ir3de_langchain._decision import IR3DE_KEY, forced, sticky_expert
from ir3de_langchain._text import RouteOn, messages_text
from ir3de_langchain.training import ToolLike, tool_router

__all__ = ["IR3DEModelMiddleware", "IR3DEToolMiddleware"]

Handler = Callable[[ModelRequest[Any]], ModelResponse[Any]]
AsyncHandler = Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]]
TOOLS_KEY = "ir3de_tools"
"""Key of the tool names offered to the model in the answer's `response_metadata`."""


class IR3DEModelMiddleware(AgentMiddleware[Any, Any, Any]):
    """Route the model call of each agent step to the best expert (any `create_agent` agent).

    Inside a tool-calling loop the expert that asked for the tools keeps the loop (`sticky`). The
    answer's `response_metadata["ir3de"]` holds the decision; an expert that raises falls back to
    the next-best, up to `max_attempts` experts.

    Example:
        .. code-block:: python

            agent = create_agent(
                "openai:gpt-5-mini", tools=tools,
                middleware=[IR3DEModelMiddleware(router, {"code": coder, "math": solver})],
            )
    """

    def __init__(
        self,
        router: IR3DERouter,
        experts: Mapping[str, BaseChatModel | str],
        *,
        route_on: RouteOn = "last_human",
        sticky: bool = True,
        max_attempts: int = 2,
    ) -> None:
        """Route between `experts` (chat models, or ``"provider:model"`` strings) with `router`.

        Raises:
            ValueError: when the router routes to an expert that `experts` lacks.
        """
        super().__init__()
        missing = [e for e in router.experts_ if e not in experts]
        if missing:
            msg = f"the router routes to {missing} but experts has no model for them"
            raise ValueError(msg)
        if max_attempts < 1:
            msg = f"max_attempts must be ≥ 1, got {max_attempts}"
            raise ValueError(msg)
        self.router = router
        self.experts = {
            n: init_chat_model(m) if isinstance(m, str) else m for n, m in experts.items()
        }
        self.route_on = route_on
        self.sticky = sticky
        self.max_attempts = max_attempts

    def decide(self, messages: Sequence[BaseMessage]) -> tuple[RoutingDecision, str]:
        """The decision for a step and why (``"sticky"`` inside a tool loop, else ``"routed"``)."""
        decision = self.router.route([messages_text(messages, self.route_on) or " ?"])[0]
        held = sticky_expert(messages) if self.sticky else None
        if held is not None and held in self.experts:
            return forced(decision, held), "sticky"
        return decision, "routed"

    def wrap_model_call(self, request: ModelRequest[Any], handler: Handler) -> ModelResponse[Any]:
        """Call the chosen expert's model, falling back to the next-best on an error."""
        decision, reason = self.decide(request.messages)

        def call(expert: str) -> ModelResponse[Any]:
            return handler(request.override(model=self.experts[expert]))

        response, used = call_with_fallback(
            decision,
            call,
            max_attempts=self.max_attempts,
            available=set(self.experts),
            reraise=(GraphBubbleUp,),  # interrupts are control flow, never retried
        )
        return _annotate(response, {IR3DE_KEY: {**used.to_dict(), "reason": reason}})

    async def awrap_model_call(
        self, request: ModelRequest[Any], handler: AsyncHandler
    ) -> ModelResponse[Any]:
        """Async form of `wrap_model_call`."""
        decision, reason = self.decide(request.messages)

        async def call(expert: str) -> ModelResponse[Any]:
            return await handler(request.override(model=self.experts[expert]))

        response, used = await acall_with_fallback(
            decision,
            call,
            max_attempts=self.max_attempts,
            available=set(self.experts),
            reraise=(GraphBubbleUp,),
        )
        return _annotate(response, {IR3DE_KEY: {**used.to_dict(), "reason": reason}})


class IR3DEToolMiddleware(AgentMiddleware[Any, Any, Any]):
    """Offer the model only the `top_k` tools the router ranks highest for the request.

    The router's experts are tool names (see `from_tools`); it scores the request with no LLM
    call, unlike `LLMToolSelectorMiddleware`. Tools the router does not know, provider tools given
    as dicts and `always_include` are always offered. The names offered are recorded in the
    answer's ``response_metadata["ir3de_tools"]``.

    Example:
        .. code-block:: python

            selector = IR3DEToolMiddleware.from_tools(tools, examples=examples, top_k=3)
            agent = create_agent(model, tools=tools, middleware=[selector])
    """

    def __init__(
        self,
        router: IR3DERouter,
        *,
        top_k: int = 3,
        always_include: Sequence[str] = (),
        route_on: RouteOn = "last_human",
    ) -> None:
        """Narrow tools with `router`, whose experts are tool names.

        Raises:
            ValueError: when `top_k` < 1.
        """
        super().__init__()
        if top_k < 1:
            msg = f"top_k must be ≥ 1, got {top_k}"
            raise ValueError(msg)
        self.router = router
        self.top_k = top_k
        self.always_include = tuple(always_include)
        self.route_on = route_on

    @classmethod
    def from_tools(
        cls,
        tools: Sequence[ToolLike],
        *,
        examples: Mapping[str, Sequence[str]] | None = None,
        top_k: int = 3,
        always_include: Sequence[str] = (),
        **router_kwargs: Any,
    ) -> IR3DEToolMiddleware:
        """Fit a router on the tools' names, descriptions and argument docs (plus `examples`).

        Args:
            tools: the agent's tools.
            examples: tool name → example requests that need it (optional; raises accuracy).
            top_k: number of tools offered per step.
            always_include: tool names always offered (not counted in `top_k`).
            router_kwargs: `IR3DERouter` settings (default featurizer ``"tokens"``).
        """
        router = tool_router(tools, examples=examples, **router_kwargs)
        return cls(router, top_k=top_k, always_include=always_include)

    def rank(self, messages: Sequence[MessageLikeRepresentation]) -> list[str]:
        """Every known tool name, most likely first, for the request in `messages`."""
        text = messages_text(convert_to_messages(messages), self.route_on)
        return self.router.route([text])[0].ranking() if text.strip() else []

    def select(
        self,
        messages: Sequence[MessageLikeRepresentation],
        tools: Sequence[BaseTool | dict[str, Any]],
    ) -> list[BaseTool | dict[str, Any]]:
        """The tools to offer, in their original order."""
        offered = {t.name for t in tools if isinstance(t, BaseTool)}
        ranked = [name for name in self.rank(messages) if name in offered][: self.top_k]
        keep = {*ranked, *self.always_include, *(offered - set(self.router.experts_))}
        return [t for t in tools if not isinstance(t, BaseTool) or t.name in keep]

    def wrap_model_call(self, request: ModelRequest[Any], handler: Handler) -> ModelResponse[Any]:
        """Call the model with the selected tools only."""
        if not request.tools:
            return handler(request)
        tools = self.select(request.messages, request.tools)
        return _annotate(handler(request.override(tools=tools)), {TOOLS_KEY: _names(tools)})

    async def awrap_model_call(
        self, request: ModelRequest[Any], handler: AsyncHandler
    ) -> ModelResponse[Any]:
        """Async form of `wrap_model_call`."""
        if not request.tools:
            return await handler(request)
        tools = self.select(request.messages, request.tools)
        response = await handler(request.override(tools=tools))
        return _annotate(response, {TOOLS_KEY: _names(tools)})


def _names(tools: Sequence[BaseTool | dict[str, Any]]) -> list[str]:
    return [t.name if isinstance(t, BaseTool) else str(t.get("name", t.get("type"))) for t in tools]


def _annotate(response: ModelResponse[Any], entries: dict[str, Any]) -> ModelResponse[Any]:
    """The response with `entries` added to the `response_metadata` of its AI messages."""
    if not isinstance(response, ModelResponse):  # a handler may return a bare AIMessage
        response = ModelResponse(result=[response])
    result = [
        m.model_copy(update={"response_metadata": {**m.response_metadata, **entries}})
        if isinstance(m, AIMessage)
        else m
        for m in response.result
    ]
    return ModelResponse(result=result, structured_response=response.structured_response)
