"""Agent middleware: route the model of each agent step, and narrow many tools to the likely few."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any

from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    MessageLikeRepresentation,
    convert_to_messages,
)
from langchain_core.tools import BaseTool
from langgraph.errors import GraphBubbleUp

from ir3de_core.decide.decision import RoutingDecision
from ir3de_core.decide.fallback import (
    FailurePredicate,
    acall_with_fallback,
    call_with_fallback,
    is_transient,
)
from ir3de_core.decide.policy import RoutingPolicy
from ir3de_core.experts import check_experts
from ir3de_core.router import IR3DERouter
from ir3de_langchain._decision import (
    IR3DE_KEY,
    SWITCH_CONFIDENCE,
    check_switch_confidence,
    decide_conversation,
)
from ir3de_langchain._models import chat_model_experts
from ir3de_langchain._text import RouteOn, messages_text
from ir3de_langchain.training import ToolLike, tool_router

__all__ = ["IR3DEModelMiddleware", "IR3DEToolMiddleware"]

Handler = Callable[[ModelRequest[Any]], ModelResponse[Any]]
AsyncHandler = Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]]
TOOLS_KEY = "ir3de_tools"
"""Key of the tool names offered to the model in the answer's `response_metadata`."""


class IR3DEModelMiddleware(AgentMiddleware[Any, Any, Any]):
    """Route the model call of each agent step to the expert the policy chooses (`create_agent`).

    The policy (`policy`, else the router's `policy_`) decides: the best expert, quality − λ·cost
    when it prices the experts, or the default expert below its threshold. A conversation keeps
    its expert (rule ``sticky``): throughout a tool-calling loop, and on a new turn unless the
    policy is at least `switch_confidence` sure of another expert. The
    answer's `response_metadata["ir3de"]` holds the decision (`RoutingDecision.to_dict`); an
    expert that fails transiently (see `fallback_on`) makes the policy decide again without it,
    up to `max_attempts` experts.

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
        policy: RoutingPolicy | None = None,
        route_on: RouteOn = "last_human",
        sticky: bool = True,
        switch_confidence: float = SWITCH_CONFIDENCE,
        max_attempts: int = 2,
        fallback_on: FailurePredicate = is_transient,
    ) -> None:
        """Route between `experts` (chat models, or ``"provider:model"`` strings) with `router`.

        Args:
            router: the fitted router.
            experts: exactly one chat model (or ``"provider:model"``) per expert of the router.
            policy: how scores become a decision; None: the router's own `router.policy_`.
            route_on: route on the last human message or on the whole conversation.
            sticky: keep the conversation's expert (False: route every step anew).
            switch_confidence: the confidence a new turn needs to move the conversation to
                another expert (0: route every turn anew).
            max_attempts: experts tried per step, the chosen one first.
            fallback_on: which failures move a step to another expert (default: transient
                ones: timeouts, connection errors, HTTP 429 and 5xx).

        Raises:
            ExpertError: when `experts` lacks an expert of the router, or has one it lacks.
            ValueError: when `max_attempts` < 1 or `switch_confidence` is not in [0, 1].
        """
        super().__init__()
        check_experts(router, experts, what="model")
        check_switch_confidence(switch_confidence)
        if max_attempts < 1:
            msg = f"max_attempts must be ≥ 1, got {max_attempts}"
            raise ValueError(msg)
        self.router = router
        self.experts: dict[str, BaseChatModel] = chat_model_experts(experts)
        self.policy = policy
        self.route_on = route_on
        self.sticky = sticky
        self.switch_confidence = switch_confidence
        self.max_attempts = max_attempts
        self.fallback_on = fallback_on

    @property
    def active_policy(self) -> RoutingPolicy:
        """The policy decisions are made with: `policy`, else the router's `policy_`."""
        return self.policy if self.policy is not None else self.router.policy_

    def decide(self, messages: Sequence[BaseMessage]) -> RoutingDecision:
        """The policy's decision for a step; ``sticky`` when the conversation keeps its expert."""
        return decide_conversation(
            self.router, messages_text(messages, self.route_on) or " ?", messages,
            policy=self.active_policy, available=set(self.experts), sticky=self.sticky,
            switch_confidence=self.switch_confidence,
        )  # fmt: skip

    def wrap_model_call(self, request: ModelRequest[Any], handler: Handler) -> ModelResponse[Any]:
        """Call the chosen expert's model; on a failure `fallback_on` accepts, decide again."""
        decision = self.decide(request.messages)

        def call(expert: str) -> ModelResponse[Any]:
            return handler(request.override(model=self.experts[expert]))

        response, used = call_with_fallback(
            decision, call, policy=self.active_policy, max_attempts=self.max_attempts,
            available=set(self.experts), fallback_on=self.fallback_on,
            reraise=(GraphBubbleUp,),  # interrupts are control flow, never retried
        )  # fmt: skip
        return _annotate(response, {IR3DE_KEY: used.to_dict()})

    async def awrap_model_call(
        self, request: ModelRequest[Any], handler: AsyncHandler
    ) -> ModelResponse[Any]:
        """Async form of `wrap_model_call`."""
        decision = self.decide(request.messages)

        async def call(expert: str) -> ModelResponse[Any]:
            return await handler(request.override(model=self.experts[expert]))

        response, used = await acall_with_fallback(
            decision, call, policy=self.active_policy, max_attempts=self.max_attempts,
            available=set(self.experts), fallback_on=self.fallback_on, reraise=(GraphBubbleUp,),
        )  # fmt: skip
        return _annotate(response, {IR3DE_KEY: used.to_dict()})


class IR3DEToolMiddleware(AgentMiddleware[Any, Any, Any]):
    """Offer the model only the `top_k` tools ranked highest for the request.

    The router's experts are tool names (see `from_tools`); it scores the request with no LLM
    call, unlike `LLMToolSelectorMiddleware`. The policy (`policy`, else the router's `policy_`)
    chooses the first tool among those offered (e.g. a cheap default tool below its threshold);
    the rest follow by score. Tools the router does not know, provider tools given as dicts and
    `always_include` are always offered. The names offered are recorded in the answer's
    ``response_metadata["ir3de_tools"]``.

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
        policy: RoutingPolicy | None = None,
    ) -> None:
        """Narrow tools with `router`, whose experts are tool names.

        Args:
            router: the fitted router over tool names.
            top_k: number of tools offered per step (besides `always_include` and unknown ones).
            always_include: tool names always offered.
            route_on: route on the last human message or on the whole conversation.
            policy: how scores choose the first tool; None: the router's own `router.policy_`.

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
        self.policy = policy

    @classmethod
    def from_tools(
        cls,
        tools: Sequence[ToolLike],
        *,
        examples: Mapping[str, Sequence[str]] | None = None,
        top_k: int = 3,
        always_include: Sequence[str] = (),
        policy: RoutingPolicy | None = None,
        **router_kwargs: Any,
    ) -> IR3DEToolMiddleware:
        """Fit a router on the tools' names, descriptions and argument docs (plus `examples`).

        Args:
            tools: the agent's tools.
            examples: tool name → example requests that need it (optional; raises accuracy).
            top_k: number of tools offered per step.
            always_include: tool names always offered (not counted in `top_k`).
            policy: how scores choose the first tool; None: the router's own policy.
            router_kwargs: `IR3DERouter` settings (default featurizer ``"tokens"``).
        """
        router = tool_router(tools, examples=examples, **router_kwargs)
        return cls(router, top_k=top_k, always_include=always_include, policy=policy)

    @property
    def active_policy(self) -> RoutingPolicy:
        """The policy decisions are made with: `policy`, else the router's `policy_`."""
        return self.policy if self.policy is not None else self.router.policy_

    def decide(
        self, messages: Sequence[MessageLikeRepresentation], tools: Collection[str] | None = None
    ) -> RoutingDecision | None:
        """The policy's decision among `tools` (None: every known tool); None without text.

        Tool names the router does not know are ignored; None when none is known.
        """
        text = messages_text(convert_to_messages(messages), self.route_on)
        known = None if tools is None else [t for t in self.router.experts_ if t in tools]
        if not text.strip() or known == []:
            return None
        return self.router.route([text], policy=self.active_policy, available=known)[0]

    def rank(
        self, messages: Sequence[MessageLikeRepresentation], tools: Collection[str] | None = None
    ) -> list[str]:
        """Known tool names among `tools` (None: all), the policy's choice first, then by score."""
        decision = self.decide(messages, tools)
        if decision is None:
            return []
        return [t for t in decision.ranking() if tools is None or t in tools]

    def select(
        self,
        messages: Sequence[MessageLikeRepresentation],
        tools: Sequence[BaseTool | dict[str, Any]],
    ) -> list[BaseTool | dict[str, Any]]:
        """The tools to offer, in their original order."""
        offered = {t.name for t in tools if isinstance(t, BaseTool)}
        ranked = self.rank(messages, offered)[: self.top_k]
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
