"""`IR3DELLM`: one LlamaIndex LLM that routes every call to one of several expert LLMs.

The route is decided inside each call, where the conversation is visible, by the router's
`RoutingPolicy` (argmax, quality − λ·cost, a threshold with a default expert), and the expert
that answered also parses its own tool calls (its name travels in the response). An expert that
fails transiently is replaced by the policy's next choice, and the decision records it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

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

from ir3de_core import IR3DERouter, RoutingDecision, RoutingPolicy
from ir3de_core.experts import check_experts
from ir3de_core.fallback import FailurePredicate, is_transient
from ir3de_llamaindex._dispatch import Dispatcher
from ir3de_llamaindex._llm_support import (
    calls_tools,
    chat_text,
    conversation,
    stamp,
    tool_caller,
    tool_options,
)
from ir3de_llamaindex._streams import apeek, astamped, peek, stamped
from ir3de_llamaindex.events import DECISION_KEY

__all__ = ["IR3DELLM"]

PIN_KEY = "ir3de_expert"  # set by `_prepare_chat_with_tools` so `chat` keeps the same expert


class IR3DELLM(FunctionCallingLLM):
    """Route each call to one of several expert LLMs with a fitted IR3DE router.

    ``chat``/``complete``, their streaming and async forms and the ``*_with_tools`` methods
    delegate to the expert `policy` chooses. The decision as it ended
    (``RoutingDecision.to_dict()``: the expert that answered, its rule, predicted quality, cost,
    λ, threshold and ``fallback_from``) is stored in the response's
    ``additional_kwargs["ir3de_decision"]`` (on every streamed chunk) and emitted as an
    `IR3DERoutingEvent`. A failure `fallback_on` accepts makes the policy decide again without
    the failed expert; a stream falls back only before its first chunk.

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
    """Experts tried per call: the chosen one, then the policy's next choices on failure."""
    policy: RoutingPolicy | None = Field(
        default=None, description="How scores become a decision; None: the router's policy_."
    )
    """The `RoutingPolicy` of every call (prices and λ, threshold and default expert); None
    uses the router's ``policy_``. Experts that cannot call tools are not available to tool
    calls."""
    fallback_on: FailurePredicate = Field(
        default=is_transient, exclude=True, description="Which failures move to another expert."
    )
    """Which exceptions move a call to the policy's next choice (default `is_transient`:
    timeouts, connection errors, HTTP 408/409/425/429 and 5xx); others propagate unchanged."""

    def __init__(self, **data: Any) -> None:
        # Checked before pydantic runs: a model_validator would wrap NotFittedError in a
        # ValidationError, and callers should be able to catch the core's own exceptions.
        check_experts(data.get("router"), data.get("experts"), what="LLM")
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
            **kwargs: further `IR3DELLM` fields (``policy``, ``route_on``, ``max_attempts``,
                ``fallback_on``).
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

    @property
    def active_policy(self) -> RoutingPolicy:
        """The policy deciding the calls: `policy`, or the router's ``policy_`` when None."""
        return self.policy if self.policy is not None else self.router.policy_

    def route(self, messages: str | Sequence[ChatMessage]) -> RoutingDecision:
        """The decision for a prompt or a conversation, without calling any expert."""
        text = messages if isinstance(messages, str) else self._chat_text(messages)
        return self._dispatcher().decide(text)

    # ------------------------------------------------------------------ chat and complete
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Chat with the chosen expert."""
        pinned = kwargs.pop(PIN_KEY, None)
        text = self._chat_text(messages)
        response, record = self._dispatcher().call(
            "chat", text, lambda llm: llm.chat(messages, **kwargs), pinned=pinned
        )
        return stamp(response, record)

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        """Complete with the chosen expert (routed on the prompt)."""
        response, record = self._dispatcher().call(
            "complete", prompt, lambda llm: llm.complete(prompt, formatted=formatted, **kwargs)
        )
        return stamp(response, record)

    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        """Stream from the chosen expert."""
        pinned = kwargs.pop(PIN_KEY, None)
        stream, record = self._dispatcher().call(
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
        stream, record = self._dispatcher().call(
            "stream_complete",
            prompt,
            lambda llm: peek(llm.stream_complete(prompt, formatted=formatted, **kwargs)),
        )
        return stamped(stream, DECISION_KEY, record)

    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Async chat with the chosen expert."""
        pinned = kwargs.pop(PIN_KEY, None)
        response, record = await self._dispatcher().acall(
            "achat",
            self._chat_text(messages),
            lambda llm: llm.achat(messages, **kwargs),
            pinned=pinned,
        )
        return stamp(response, record)

    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        """Async completion with the chosen expert."""
        response, record = await self._dispatcher().acall(
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
        stream, record = await self._dispatcher().acall("astream_chat", text, call, pinned=pinned)
        return astamped(stream, DECISION_KEY, record)

    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        """Async stream of a completion from the chosen expert."""

        async def call(llm: LLM) -> CompletionResponseAsyncGen:
            return await apeek(await llm.astream_complete(prompt, formatted=formatted, **kwargs))

        stream, record = await self._dispatcher().acall("astream_complete", prompt, call)
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
        response, record = self._dispatcher().call(
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
        response, record = await self._dispatcher().acall(
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
        stream, record = self._dispatcher().call(
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
        stream, record = await self._dispatcher().acall(
            "astream_chat_with_tools", text, call, tools=True
        )
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
        expert = self._dispatcher().decide(text, tools=True).expert
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
            expert = self.experts[self._dispatcher().available(tools=True)[0]]
        return tool_caller(expert).get_tool_calls_from_response(
            response, error_on_no_tool_call=error_on_no_tool_call, **kwargs
        )

    # ------------------------------------------------------------------ routing
    def _chat_text(self, messages: Sequence[ChatMessage]) -> str:
        return chat_text(messages, self.route_on)

    def _dispatcher(self) -> Dispatcher:
        return Dispatcher(
            self.router, self.experts, self.active_policy, self.max_attempts, self.fallback_on
        )
