"""`ChatIR3DE`: a chat model that routes each call to the best of several expert chat models."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.language_models.chat_models import agenerate_from_stream, generate_from_stream
from langchain_core.language_models.model_profile import ModelProfile
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool
from pydantic import ConfigDict, field_validator, model_validator
from typing_extensions import Self

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
from ir3de_langchain._chat_parts import (
    ExpertByConfig,
    child_callbacks,
    common_profile,
    route_head,
    routed_chunk,
    routed_result,
)
from ir3de_langchain._decision import (
    SWITCH_CONFIDENCE,
    check_switch_confidence,
    decide_conversation,
    route_metadata,
    route_tags,
)
from ir3de_langchain._models import chat_model_experts
from ir3de_langchain._structured import StructuredRouting, with_settings
from ir3de_langchain._text import RouteOn, messages_text
from ir3de_langchain._timeout import acall_with_timeout, call_with_timeout

__all__ = ["ChatIR3DE"]

T = TypeVar("T")

_NOSTREAM = "nostream"  # LangGraph streams our run's tokens; hide the expert's duplicate ones
_TOOL_KEYS = ("tools", "tool_choice", "tool_kwargs")


class ChatIR3DE(ExpertByConfig):
    """A chat model that sends each call to the expert chat model the policy chooses.

    The policy (`policy`, else the router's `policy_`) decides from the conversation
    (`route_on`): the best expert, quality − λ·cost when it prices the experts, or the default
    expert below its threshold. A conversation keeps its expert (rule ``sticky``): throughout a
    tool-calling loop, and on a new turn unless the policy is at least `switch_confidence` sure
    of another expert. ``invoke(..., model="<expert>")``, ``bind(model=...)`` or
    ``with_config(configurable={"model": "<expert>"})`` force an expert (rule ``forced``).
    Experts may be chat models or ``"provider:model"`` strings (`init_chat_model`).
    `bind_tools` and `with_structured_output` use the chosen expert's own binding, so
    provider-specific tool formats keep working. Each answer's `response_metadata`
    has ``model_name`` (the expert) and ``ir3de`` (the decision's `to_dict`: expert, rule,
    scores, confidence, cost, fallback). An expert that fails transiently (see `fallback_on`;
    exceeding `timeout` counts) makes the policy decide again without it.

    Example:
        .. code-block:: python

            chat = ChatIR3DE(router=router, experts={"code": coder, "math": solver})
            agent = create_agent(chat, tools=[search])
    """

    router: IR3DERouter
    """The fitted router; `experts` has exactly one chat model per expert of it."""
    experts: dict[str, BaseChatModel]
    """Expert name → chat model."""
    policy: RoutingPolicy | None = None
    """How scores become a decision (prices and λ, threshold and default); None: the router's
    own `router.policy_`."""
    route_on: RouteOn = "last_human"
    """Route on the last human message or on the whole conversation (non-system messages)."""
    sticky: bool = True
    """Keep the conversation's expert (see `switch_confidence`); False: route every call anew."""
    switch_confidence: float = SWITCH_CONFIDENCE
    """A new turn leaves the conversation's expert only for another expert the policy chose
    with at least this confidence (0: route every turn anew; 1: almost never switch)."""
    max_retries: int = 1
    """Other experts tried after the chosen one fails (0: no fallback)."""
    timeout: float | None = None
    """Seconds one expert may take before the policy decides again without it (None: no limit)."""
    fallback_on: FailurePredicate = is_transient
    """Which failures move a call to another expert (default: timeouts, connection errors,
    HTTP 429 and 5xx); any other exception propagates unchanged."""
    temperature: float | None = None
    """Temperature passed to every expert call (None: each expert's own setting)."""
    max_tokens: int | None = None
    """Maximum tokens passed to every expert call (None: each expert's own setting)."""
    stop: list[str] | None = None
    """Stop sequences passed to every expert call."""
    streaming: bool = False
    """Stream from the expert even when called with `invoke`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    @field_validator("experts", mode="before")
    @classmethod
    def _build_named(cls, value: Any) -> Any:
        """``"provider:model"`` strings become chat models (`init_chat_model`)."""
        return chat_model_experts(value) if isinstance(value, Mapping) else value

    @model_validator(mode="after")
    def _check_experts(self) -> Self:
        check_experts(self.router, self.experts, what="chat model")
        check_switch_confidence(self.switch_confidence)
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
        return {
            "experts": sorted(self.experts), "route_on": self.route_on, "sticky": self.sticky,
            "switch_confidence": self.switch_confidence,
            "policy": None if self.policy is None else self.policy.to_dict(),
        }  # fmt: skip

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
        return common_profile([model.profile for model in self.experts.values()])

    # ------------------------------------------------------------------ routing
    @property
    def active_policy(self) -> RoutingPolicy:
        """The policy decisions are made with: `policy`, else the router's `policy_`."""
        return self.policy if self.policy is not None else self.router.policy_

    def route(
        self, messages: Sequence[BaseMessage], *, model: str | None = None
    ) -> RoutingDecision:
        """The policy's decision for a conversation; its ``rule`` says why.

        ``forced`` by `model`; ``sticky`` when the conversation keeps its expert (see
        `switch_confidence`); else ``best``, ``cost``, ``default`` or ``unsure`` by the policy.

        Raises:
            ValueError: when `model` is not an expert, or the conversation has no text to route.
        """
        if model is not None and model not in self.experts:
            msg = f"model={model!r} is not an expert; choose one of {sorted(self.experts)}"
            raise ValueError(msg)
        text = messages_text(messages, self.route_on)
        if not text.strip():
            msg = "the conversation has no text to route; add a human message or pass model="
            raise ValueError(msg)
        return decide_conversation(
            self.router, text, messages, policy=self.active_policy, available=set(self.experts),
            forced=model, sticky=self.sticky, switch_confidence=self.switch_confidence,
        )  # fmt: skip

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
        """A routed runnable over each expert's own `with_structured_output(schema, ...)`.

        The experts are copies holding this model's `temperature`, `max_tokens` and `stop`;
        with ``include_raw=True`` the ``raw`` message carries the route (``model_name`` and
        ``ir3de`` in its `response_metadata`).
        """
        settings: dict[str, Any] = {
            "temperature": self.temperature, "max_tokens": self.max_tokens, "stop": self.stop
        }  # fmt: skip
        experts: dict[str, Runnable[Any, Any]] = {
            name: with_settings(name, model, settings).with_structured_output(
                schema, include_raw=include_raw, **kwargs
            )
            for name, model in self.experts.items()
        }
        return StructuredRouting(
            router=self.router, experts=experts, policy=self.policy, route_on=self.route_on,
            max_attempts=self.max_retries + 1, timeout=self.timeout, fallback_on=self.fallback_on,
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
            "callbacks": child_callbacks(run_manager),
            "tags": [*route_tags(expert), _NOSTREAM],
            "metadata": {**route_metadata(decision), "ir3de_expert": expert},
        }

    def _fallback(
        self, decision: RoutingDecision, call: Callable[[str], T]
    ) -> tuple[T, RoutingDecision]:
        """Call the decided expert; after a failure `fallback_on` accepts, decide again."""
        return call_with_fallback(
            decision, call, policy=self.active_policy, max_attempts=self.max_retries + 1,
            available=set(self.experts), fallback_on=self.fallback_on,
        )  # fmt: skip

    async def _afallback(
        self, decision: RoutingDecision, call: Callable[[str], Awaitable[T]]
    ) -> tuple[T, RoutingDecision]:
        """Async form of `_fallback`."""
        return await acall_with_fallback(
            decision, call, policy=self.active_policy, max_attempts=self.max_retries + 1,
            available=set(self.experts), fallback_on=self.fallback_on,
        )  # fmt: skip

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.streaming:
            return generate_from_stream(self._stream(messages, stop, run_manager, **kwargs))
        decision = self.route(messages, model=kwargs.get("model"))

        def call(expert: str) -> BaseMessage:
            model, call_kwargs = self._expert_call(expert, stop, kwargs)
            config = self._config(run_manager, decision, expert)
            return call_with_timeout(
                lambda: model.invoke(messages, config, **call_kwargs), self.timeout, expert
            )

        message, used = self._fallback(decision, call)
        return routed_result(message, used)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.streaming:
            return await agenerate_from_stream(self._astream(messages, stop, run_manager, **kwargs))
        decision = self.route(messages, model=kwargs.get("model"))

        async def call(expert: str) -> BaseMessage:
            model, call_kwargs = self._expert_call(expert, stop, kwargs)
            config = self._config(run_manager, decision, expert)
            return await acall_with_timeout(
                lambda: model.ainvoke(messages, config, **call_kwargs), self.timeout, expert
            )

        message, used = await self._afallback(decision, call)
        return routed_result(message, used)

    # ------------------------------------------------------------------ streaming
    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        decision = self.route(messages, model=kwargs.get("model"))

        def start(expert: str) -> tuple[list[BaseMessage], Iterator[BaseMessage]]:
            model, call_kwargs = self._expert_call(expert, stop, kwargs)
            config = self._config(run_manager, decision, expert)
            iterator = iter(model.stream(messages, config, **call_kwargs))
            return list(itertools.islice(iterator, 1)), iterator

        (first, rest), used = self._fallback(decision, start)
        head: dict[str, Any] | None = route_head(used)
        for chunk in itertools.chain(first, rest):
            yield routed_chunk(chunk, head)
            head = None

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        decision = self.route(messages, model=kwargs.get("model"))

        async def start(expert: str) -> tuple[list[BaseMessage], AsyncIterator[BaseMessage]]:
            model, call_kwargs = self._expert_call(expert, stop, kwargs)
            config = self._config(run_manager, decision, expert)
            iterator = aiter(model.astream(messages, config, **call_kwargs))
            try:
                return [await anext(iterator)], iterator
            except StopAsyncIteration:
                return [], iterator

        (first, rest), used = await self._afallback(decision, start)
        head: dict[str, Any] | None = route_head(used)
        for chunk in first:
            yield routed_chunk(chunk, head)
            head = None
        async for chunk in rest:
            yield routed_chunk(chunk, head)
            head = None
