"""`IR3DELLM`: one LlamaIndex LLM that routes every call to the best of several expert LLMs.

The route is decided inside each call, where the conversation is visible, and the expert that
answered also parses its own tool calls (its name travels in the response). A failing expert is
replaced by the next-best one, and the decision records it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.bridge.pydantic import ConfigDict, Field
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import LLM, ToolSelection
from llama_index.core.tools.types import BaseTool

from ir3de_core import IR3DERouter, RoutingDecision
from ir3de_core.fallback import acall_with_fallback, call_with_fallback
from ir3de_llamaindex._llm_support import (
    calls_tools,
    check_experts,
    conversation,
    emit,
    stamp,
    tool_caller,
    tool_options,
)
from ir3de_llamaindex._streams import apeek, astamped, peek, stamped
from ir3de_llamaindex.events import DECISION_KEY

__all__ = ["IR3DELLM"]

T = TypeVar("T")
REACT_OBSERVATION = "Observation:"
PIN_KEY = "ir3de_expert"  # set by `_prepare_chat_with_tools` so `chat` keeps the same expert


class IR3DELLM(FunctionCallingLLM):
    """Route each call to one of several expert LLMs with a fitted IR3DE router.

    ``chat``/``complete``, their streaming and async forms and the ``*_with_tools`` methods
    delegate to the chosen expert. The decision (``RoutingDecision.to_dict()``) is stored in the
    response's ``additional_kwargs["ir3de_decision"]`` (on every streamed chunk) and emitted as an
    `IR3DERoutingEvent`. A stream falls back only before its first chunk.

    `metadata` is conservative: the smallest context window and output budget of the experts,
    and function calling only when every expert supports it.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    router: IR3DERouter = Field(exclude=True, description="A fitted router over the experts.")
    """A fitted `IR3DERouter` whose experts are exactly the keys of `experts`."""
    experts: dict[str, LLM] = Field(description="Expert LLMs by router expert name.")
    """Expert LLMs keyed by the router's expert names."""
    route_on: Literal["last_user", "conversation"] = Field(
        default="last_user", description="What text of a chat the router reads."
    )
    """``"last_user"``: the last user message that is not a tool result (tool turns and ReAct
    ``Observation:`` turns are skipped, so an agent keeps its expert through its tool loop);
    ``"conversation"``: every message's text."""
    max_attempts: int = Field(default=2, ge=1, description="Experts tried per call.")
    """Experts tried per call: the chosen one, then the next-best on failure."""

    def __init__(self, **data: Any) -> None:
        # Checked before pydantic runs: a model_validator would wrap NotFittedError in a
        # ValidationError, and callers should be able to catch the core's own exceptions.
        check_experts(data.get("router"), data.get("experts"))
        super().__init__(**data)

    @classmethod
    def class_name(cls) -> str:
        """Name used when serialising."""
        return "IR3DELLM"

    @classmethod
    def from_examples(
        cls,
        experts: Mapping[str, LLM],
        examples: Mapping[str, Sequence[str]],
        *,
        featurizer: Any = "hashing",
        **kwargs: Any,
    ) -> IR3DELLM:
        """Fit a router on example prompts per expert and route between `experts` with it.

        Args:
            experts: expert LLMs by name.
            examples: example prompts per expert name (each expert needs at least one).
            featurizer: the router's featurizer (``"hashing"`` needs no model).
            **kwargs: further `IR3DELLM` fields (``route_on``, ``max_attempts``).
        """
        prompts = [p for name in examples for p in examples[name]]
        labels = [name for name in examples for _ in examples[name]]
        router = IR3DERouter(featurizer).fit(prompts, labels)
        return cls(router=router, experts=dict(experts), **kwargs)

    @property
    def metadata(self) -> LLMMetadata:
        """Conservative metadata: what every expert can do."""
        metas = [llm.metadata for llm in self.experts.values()]
        roles = {m.system_role for m in metas}
        return LLMMetadata(
            context_window=min(m.context_window for m in metas),
            num_output=min(m.num_output for m in metas),
            is_chat_model=all(m.is_chat_model for m in metas),
            is_function_calling_model=all(calls_tools(llm) for llm in self.experts.values()),
            model_name="ir3de:" + "|".join(self.experts),
            system_role=roles.pop() if len(roles) == 1 else MessageRole.SYSTEM,
        )

    def route(self, messages: str | Sequence[ChatMessage]) -> RoutingDecision:
        """The decision for a prompt or a conversation, without calling any expert."""
        text = messages if isinstance(messages, str) else self._chat_text(messages)
        return self._decide(text, set(self.experts))

    # ------------------------------------------------------------------ chat and complete
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Chat with the chosen expert."""
        pinned = kwargs.pop(PIN_KEY, None)
        text = self._chat_text(messages)
        response, record = self._dispatch(
            "chat", text, lambda llm: llm.chat(messages, **kwargs), pinned=pinned
        )
        return stamp(response, record)

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        """Complete with the chosen expert (routed on the prompt)."""
        response, record = self._dispatch(
            "complete", prompt, lambda llm: llm.complete(prompt, formatted=formatted, **kwargs)
        )
        return stamp(response, record)

    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        """Stream from the chosen expert."""
        pinned = kwargs.pop(PIN_KEY, None)
        stream, record = self._dispatch(
            "stream_chat",
            self._chat_text(messages),
            lambda llm: peek(llm.stream_chat(messages, **kwargs)),
            pinned=pinned,
        )
        return stamped(stream, DECISION_KEY, record)

    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        """Stream a completion from the chosen expert."""
        stream, record = self._dispatch(
            "stream_complete",
            prompt,
            lambda llm: peek(llm.stream_complete(prompt, formatted=formatted, **kwargs)),
        )
        return stamped(stream, DECISION_KEY, record)

    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Async chat with the chosen expert."""
        pinned = kwargs.pop(PIN_KEY, None)
        response, record = await self._adispatch(
            "achat", self._chat_text(messages), lambda llm: llm.achat(messages, **kwargs), pinned
        )
        return stamp(response, record)

    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        """Async completion with the chosen expert."""
        response, record = await self._adispatch(
            "acomplete", prompt, lambda llm: llm.acomplete(prompt, formatted=formatted, **kwargs)
        )
        return stamp(response, record)

    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        """Async stream from the chosen expert."""
        pinned = kwargs.pop(PIN_KEY, None)

        async def call(llm: LLM) -> ChatResponseAsyncGen:
            return await apeek(await llm.astream_chat(messages, **kwargs))

        text = self._chat_text(messages)
        stream, record = await self._adispatch("astream_chat", text, call, pinned)
        return astamped(stream, DECISION_KEY, record)

    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        """Async stream of a completion from the chosen expert."""

        async def call(llm: LLM) -> CompletionResponseAsyncGen:
            return await apeek(await llm.astream_complete(prompt, formatted=formatted, **kwargs))

        stream, record = await self._adispatch("astream_complete", prompt, call)
        return astamped(stream, DECISION_KEY, record)

    # ------------------------------------------------------------------ tools
    def chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        **kwargs: Any,
    ) -> ChatResponse:
        """Chat with tools through the chosen expert (routed on the conversation)."""
        options = tool_options(chat_history, verbose, allow_parallel_tool_calls, tool_required)
        response, record = self._dispatch(
            "chat_with_tools",
            self._chat_text(conversation(user_msg, chat_history)),
            lambda llm: tool_caller(llm).chat_with_tools(
                tools, user_msg=user_msg, **options, **kwargs
            ),
            tools=True,
        )
        return stamp(response, record)

    async def achat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        **kwargs: Any,
    ) -> ChatResponse:
        """Async chat with tools through the chosen expert."""
        options = tool_options(chat_history, verbose, allow_parallel_tool_calls, tool_required)
        response, record = await self._adispatch(
            "achat_with_tools",
            self._chat_text(conversation(user_msg, chat_history)),
            lambda llm: tool_caller(llm).achat_with_tools(
                tools, user_msg=user_msg, **options, **kwargs
            ),
            tools=True,
        )
        return stamp(response, record)

    def stream_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        **kwargs: Any,
    ) -> ChatResponseGen:
        """Stream a chat with tools from the chosen expert."""
        options = tool_options(chat_history, verbose, allow_parallel_tool_calls, tool_required)
        stream, record = self._dispatch(
            "stream_chat_with_tools",
            self._chat_text(conversation(user_msg, chat_history)),
            lambda llm: peek(
                tool_caller(llm).stream_chat_with_tools(
                    tools, user_msg=user_msg, **options, **kwargs
                )
            ),
            tools=True,
        )
        return stamped(stream, DECISION_KEY, record)

    async def astream_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        **kwargs: Any,
    ) -> ChatResponseAsyncGen:
        """Async stream of a chat with tools from the chosen expert."""
        options = tool_options(chat_history, verbose, allow_parallel_tool_calls, tool_required)

        async def call(llm: LLM) -> ChatResponseAsyncGen:
            stream = await tool_caller(llm).astream_chat_with_tools(
                tools, user_msg=user_msg, **options, **kwargs
            )
            return await apeek(stream)

        text = self._chat_text(conversation(user_msg, chat_history))
        stream, record = await self._adispatch("astream_chat_with_tools", text, call, tools=True)
        return astamped(stream, DECISION_KEY, record)

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The chosen expert's own request, pinned to it so that `chat` sends it there."""
        text = self._chat_text(conversation(user_msg, chat_history))
        expert = self._decide(text, self._available(tools=True)).expert
        prepared = tool_caller(self.experts[expert])._prepare_chat_with_tools_compat(
            tools,
            user_msg=user_msg,
            chat_history=chat_history,
            verbose=verbose,
            allow_parallel_tool_calls=allow_parallel_tool_calls,
            tool_required=tool_required,
            **kwargs,
        )
        return {**prepared, PIN_KEY: expert}

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = True, **kwargs: Any
    ) -> list[ToolSelection]:
        """Parse tool calls with the expert that wrote the response (named in the response);
        a response from elsewhere is parsed by the first expert that calls tools."""
        name = response.additional_kwargs.get(DECISION_KEY, {}).get("expert")
        expert = self.experts.get(name) if isinstance(name, str) else None
        if expert is None:
            expert = self.experts[
                sorted(self._available(tools=True), key=list(self.experts).index)[0]
            ]
        return tool_caller(expert).get_tool_calls_from_response(
            response, error_on_no_tool_call=error_on_no_tool_call, **kwargs
        )

    # ------------------------------------------------------------------ routing
    def _chat_text(self, messages: Sequence[ChatMessage]) -> str:
        if self.route_on == "last_user":
            for message in reversed(messages):
                content = (message.content or "").strip()
                if message.role == MessageRole.USER and content and not _is_observation(content):
                    return content
        text = "\n".join(m.content for m in messages if m.content and m.content.strip())
        if not text:
            msg = "the conversation has no text to route on; send at least one text message"
            raise ValueError(msg)
        return text

    def _available(self, *, tools: bool = False, pinned: str | None = None) -> set[str]:
        names = {n for n, llm in self.experts.items() if not tools or calls_tools(llm)}
        if not names:
            msg = "no expert can call tools; give IR3DELLM function-calling experts for tools"
            raise ValueError(msg)
        if pinned is not None:
            names &= {pinned}
        return names

    def _decide(self, text: str, available: set[str]) -> RoutingDecision:
        decision = self.router.route([text])[0]
        if decision.expert not in available:  # e.g. the best expert cannot call tools
            best = next(e for e in decision.ranking() if e in available)
            decision = dataclasses.replace(decision, expert=best)
        return decision

    def _dispatch(
        self,
        method: str,
        text: str,
        call: Callable[[LLM], T],
        *,
        tools: bool = False,
        pinned: str | None = None,
    ) -> tuple[T, dict[str, Any]]:
        available = self._available(tools=tools, pinned=pinned)
        decision = self._decide(text, available)
        result, used = call_with_fallback(
            decision,
            lambda name: call(self.experts[name]),
            max_attempts=self.max_attempts,
            available=available,
        )
        return result, emit(method, used)

    async def _adispatch(
        self,
        method: str,
        text: str,
        call: Callable[[LLM], Awaitable[T]],
        pinned: str | None = None,
        *,
        tools: bool = False,
    ) -> tuple[T, dict[str, Any]]:
        available = self._available(tools=tools, pinned=pinned)
        decision = await asyncio.to_thread(self._decide, text, available)
        result, used = await acall_with_fallback(
            decision,
            lambda name: call(self.experts[name]),
            max_attempts=self.max_attempts,
            available=available,
        )
        return result, emit(method, used)


def _is_observation(content: str) -> bool:
    """A ReAct agent sends tool results back as user turns starting with "Observation:"."""
    return content.startswith(REACT_OBSERVATION)
