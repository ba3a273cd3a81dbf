"""`ChatIR3DE`: a chat model that routes each call to the best of several expert chat models."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForLLMRun,
    CallbackManager,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.language_models.chat_models import agenerate_from_stream, generate_from_stream
from langchain_core.language_models.model_profile import ModelProfile
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool
from pydantic import ConfigDict, model_validator
from typing_extensions import Self

from ir3de_core.decision import RoutingDecision
from ir3de_core.fallback import acall_with_fallback, call_with_fallback
from ir3de_core.router import IR3DERouter
from ir3de_langchain._decision import (
    IR3DE_KEY,
    forced,
    route_metadata,
    route_tags,
    sticky_expert,
)
from ir3de_langchain._text import RouteOn, messages_text
from ir3de_langchain._timeout import acall_with_timeout, call_with_timeout
from ir3de_langchain.runnables import IR3DERunnable

__all__ = ["ChatIR3DE"]

_NOSTREAM = "nostream"  # LangGraph streams our run's tokens; hide the expert's duplicate ones
_TOOL_KEYS = ("tools", "tool_choice", "tool_kwargs")


class ChatIR3DE(BaseChatModel):
    """A chat model that sends each call to the expert chat model the router chooses.

    The route is decided from the conversation (`route_on`); inside one tool-calling loop it
    stays with the expert that asked for the tools (`sticky`). ``invoke(..., model="<expert>")``
    forces an expert. `bind_tools` and `with_structured_output` use the chosen expert's own
    binding, so provider-specific tool formats keep working. Each answer's `response_metadata`
    has ``model_name`` (the expert) and ``ir3de`` (the decision: expert, scores, confidence,
    fallback). An expert that raises or exceeds `timeout` falls back to the next-best.

    Example:
        .. code-block:: python

            chat = ChatIR3DE(router=router, experts={"code": coder, "math": solver})
            agent = create_agent(chat, tools=[search])
    """

    router: IR3DERouter
    """The fitted router; its experts must all be keys of `experts`."""
    experts: dict[str, BaseChatModel]
    """Expert name → chat model."""
    route_on: RouteOn = "last_human"
    """Route on the last human message or on the whole conversation (non-system messages)."""
    sticky: bool = True
    """Keep the expert of a tool-calling loop in progress instead of routing each step anew."""
    max_retries: int = 1
    """Next-best experts tried after the chosen one fails (0: no fallback)."""
    timeout: float | None = None
    """Seconds one expert may take before the next-best is tried (None: no limit)."""
    temperature: float | None = None
    """Temperature passed to every expert call (None: each expert's own setting)."""
    max_tokens: int | None = None
    """Maximum tokens passed to every expert call (None: each expert's own setting)."""
    stop: list[str] | None = None
    """Stop sequences passed to every expert call."""
    streaming: bool = False
    """Stream from the expert even when called with `invoke`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    @model_validator(mode="after")
    def _check_experts(self) -> Self:
        missing = [e for e in self.router.experts_ if e not in self.experts]
        if missing:
            msg = f"the router routes to {missing} but experts has no chat model for them"
            raise ValueError(msg)
        if self.max_retries < 0:
            msg = f"max_retries must be ≥ 0, got {self.max_retries}"
            raise ValueError(msg)
        if self.timeout is not None and self.timeout <= 0:
            msg = f"timeout must be > 0 seconds or None, got {self.timeout}"
            raise ValueError(msg)
        return self

    @property
    def _llm_type(self) -> str:
        return "ir3de-chat"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"experts": sorted(self.experts), "route_on": self.route_on, "sticky": self.sticky}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider="ir3de", ls_model_name=kwargs.get("model") or "ir3de", ls_model_type="chat"
        )
        temperature = kwargs.get("temperature", self.temperature)
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if temperature is not None:
            params["ls_temperature"] = temperature
        if max_tokens is not None:
            params["ls_max_tokens"] = max_tokens
        if stop or self.stop:
            params["ls_stop"] = stop or self.stop
        return params

    def _resolve_model_profile(self) -> ModelProfile | None:
        """What every expert can do: a capability holds if it holds for all; limits are minima."""
        profiles = [model.profile for model in self.experts.values()]
        if not profiles or any(p is None for p in profiles):
            return None
        common: dict[str, Any] = {}
        for key in set.intersection(*(set(p) for p in profiles if p is not None)):
            values = [p[key] for p in profiles if p is not None]  # type: ignore[literal-required]
            if all(isinstance(v, bool) for v in values):
                common[key] = all(values)
            elif all(isinstance(v, int) for v in values):
                common[key] = min(values)
        return ModelProfile(**common)  # type: ignore[typeddict-item]

    # ------------------------------------------------------------------ routing
    def route(
        self, messages: Sequence[BaseMessage], *, model: str | None = None
    ) -> RoutingDecision:
        """The decision for a conversation: forced by `model`, sticky in a tool loop, else routed.

        Raises:
            ValueError: when `model` is not an expert, or the conversation has no text to route.
        """
        return self._route(messages, model)[0]

    def _route(
        self, messages: Sequence[BaseMessage], model: str | None
    ) -> tuple[RoutingDecision, str]:
        """The decision and why: ``"forced"``, ``"sticky"`` or ``"routed"``."""
        if model is not None and model not in self.experts:
            msg = f"model={model!r} is not an expert; choose one of {sorted(self.experts)}"
            raise ValueError(msg)
        text = messages_text(messages, self.route_on)
        if not text.strip():
            msg = "the conversation has no text to route; add a human message or pass model="
            raise ValueError(msg)
        decision = self.router.route([text])[0]
        if model is not None:
            return forced(decision, model), "forced"
        held = sticky_expert(messages) if self.sticky else None
        if held is not None and held in self.experts:
            return forced(decision, held), "sticky"
        return decision, "routed"

    def add_expert(self, name: str, model: BaseChatModel, prompts: Sequence[str]) -> Self:
        """Add an expert from example prompts of its own, without refitting the others."""
        self.router.add_expert(name, prompts)
        self.experts[name] = model
        return self

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | dict[str, Any] | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools; at call time the chosen expert's own `bind_tools` formats them.

        Args:
            tools: tools in any form the experts accept (LangChain tools, functions, schemas,
                provider-specific dicts).
            tool_choice: passed to the expert's `bind_tools` when given.
            kwargs: other `bind_tools` arguments of the experts (e.g. ``strict``).
        """
        return self.bind(tools=list(tools), tool_choice=tool_choice, tool_kwargs=kwargs)

    def with_structured_output(
        self, schema: dict[str, Any] | type, *, include_raw: bool = False, **kwargs: Any
    ) -> Runnable[LanguageModelInput, dict[str, Any] | Any]:
        """A routed runnable over each expert's own `with_structured_output(schema, ...)`."""
        experts: dict[str, Runnable[Any, Any]] = {
            name: model.with_structured_output(schema, include_raw=include_raw, **kwargs)
            for name, model in self.experts.items()
        }
        return IR3DERunnable(
            router=self.router, experts=experts, route_on=self.route_on,
            max_attempts=self.max_retries + 1, timeout=self.timeout,
        )  # fmt: skip

    # ------------------------------------------------------------------ calling
    def _expert_call(
        self,
        expert: str,
        stop: list[str] | None,
        kwargs: dict[str, Any],
    ) -> tuple[Runnable[LanguageModelInput, BaseMessage], dict[str, Any]]:
        """The expert's runnable (with its own tool binding) and the kwargs of the call."""
        call = {k: v for k, v in kwargs.items() if k not in _TOOL_KEYS and k != "model"}
        defaults = {"temperature": self.temperature, "max_tokens": self.max_tokens}
        call = {**{k: v for k, v in defaults.items() if v is not None}, **call}
        if stop or self.stop:
            call["stop"] = stop or self.stop
        model: Runnable[LanguageModelInput, BaseMessage] = self.experts[expert]
        if kwargs.get("tools") is not None:
            tool_kwargs = dict(kwargs.get("tool_kwargs") or {})
            if kwargs.get("tool_choice") is not None:
                tool_kwargs["tool_choice"] = kwargs["tool_choice"]
            model = self.experts[expert].bind_tools(kwargs["tools"], **tool_kwargs)
        return model, call

    def _config(
        self,
        run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None,
        decision: RoutingDecision,
        expert: str,
    ) -> RunnableConfig:
        return {
            "callbacks": _child_callbacks(run_manager),
            "tags": [*route_tags(expert), _NOSTREAM],
            "metadata": {**route_metadata(decision), "ir3de_expert": expert},
        }

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.streaming:
            return generate_from_stream(self._stream(messages, stop, run_manager, **kwargs))
        decision, reason = self._route(messages, kwargs.get("model"))

        def call(expert: str) -> BaseMessage:
            model, call_kwargs = self._expert_call(expert, stop, kwargs)
            config = self._config(run_manager, decision, expert)
            return call_with_timeout(
                lambda: model.invoke(messages, config, **call_kwargs), self.timeout, expert
            )

        message, used = call_with_fallback(
            decision, call, max_attempts=self.max_retries + 1, available=set(self.experts)
        )
        return self._result(message, used, reason)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.streaming:
            return await agenerate_from_stream(self._astream(messages, stop, run_manager, **kwargs))
        decision, reason = self._route(messages, kwargs.get("model"))

        async def call(expert: str) -> BaseMessage:
            model, call_kwargs = self._expert_call(expert, stop, kwargs)
            config = self._config(run_manager, decision, expert)
            return await acall_with_timeout(
                lambda: model.ainvoke(messages, config, **call_kwargs), self.timeout, expert
            )

        message, used = await acall_with_fallback(
            decision, call, max_attempts=self.max_retries + 1, available=set(self.experts)
        )
        return self._result(message, used, reason)

    def _result(
        self,
        message: BaseMessage,
        used: RoutingDecision,
        reason: str,
    ) -> ChatResult:
        info = {**used.to_dict(), "reason": reason}
        if "model_name" in message.response_metadata:
            info["expert_model_name"] = message.response_metadata["model_name"]
        metadata = {**message.response_metadata, "model_name": used.expert, IR3DE_KEY: info}
        answer = message.model_copy(update={"response_metadata": metadata})
        return ChatResult(generations=[ChatGeneration(message=answer)])

    # ------------------------------------------------------------------ streaming
    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        decision, reason = self._route(messages, kwargs.get("model"))

        def start(expert: str) -> tuple[list[BaseMessage], Iterator[BaseMessage]]:
            model, call_kwargs = self._expert_call(expert, stop, kwargs)
            config = self._config(run_manager, decision, expert)
            iterator = iter(model.stream(messages, config, **call_kwargs))
            return list(itertools.islice(iterator, 1)), iterator

        (first, rest), used = call_with_fallback(
            decision, start, max_attempts=self.max_retries + 1, available=set(self.experts)
        )
        head: dict[str, Any] | None = _head(used, reason)
        for chunk in itertools.chain(first, rest):
            yield _chunk(chunk, head)
            head = None

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        decision, reason = self._route(messages, kwargs.get("model"))

        async def start(expert: str) -> tuple[list[BaseMessage], AsyncIterator[BaseMessage]]:
            model, call_kwargs = self._expert_call(expert, stop, kwargs)
            config = self._config(run_manager, decision, expert)
            iterator = aiter(model.astream(messages, config, **call_kwargs))
            try:
                return [await anext(iterator)], iterator
            except StopAsyncIteration:
                return [], iterator

        (first, rest), used = await acall_with_fallback(
            decision, start, max_attempts=self.max_retries + 1, available=set(self.experts)
        )
        head: dict[str, Any] | None = _head(used, reason)
        for chunk in first:
            yield _chunk(chunk, head)
            head = None
        async for chunk in rest:
            yield _chunk(chunk, head)
            head = None


def _child_callbacks(
    run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None,
) -> CallbackManager | AsyncCallbackManager | None:
    """Callbacks that make the expert's run a child of ours (`get_child` of chain runs)."""
    if run_manager is None:
        return None
    cls = (
        AsyncCallbackManager
        if isinstance(run_manager, AsyncCallbackManagerForLLMRun)
        else CallbackManager
    )
    manager = cls(handlers=[], parent_run_id=run_manager.run_id)
    manager.set_handlers(run_manager.inheritable_handlers)
    manager.add_tags(run_manager.inheritable_tags)
    manager.add_metadata(run_manager.inheritable_metadata)
    return manager


def _head(decision: RoutingDecision, reason: str) -> dict[str, Any]:
    """The `response_metadata` of the first chunk: the expert and the decision."""
    return {"model_name": decision.expert, IR3DE_KEY: {**decision.to_dict(), "reason": reason}}


def _chunk(message: BaseMessage, head: dict[str, Any] | None) -> ChatGenerationChunk:
    """Our chunk from an expert's: the route on the first chunk, the expert's model_name dropped.

    Chunks add up by concatenating strings, so ``model_name`` must appear on one chunk only.
    """
    metadata = {k: v for k, v in message.response_metadata.items() if k != "model_name"}
    if head is not None:
        metadata = {**metadata, **head}
    if not isinstance(message, AIMessageChunk):
        message = AIMessageChunk(content=message.content, id=message.id)
    return ChatGenerationChunk(message=message.model_copy(update={"response_metadata": metadata}))
