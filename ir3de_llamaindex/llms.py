"""`IR3DELLM`: one LlamaIndex LLM that routes every call to one of several expert LLMs.

The route is decided inside each call, where the conversation is visible, by the router's
`RoutingPolicy` (argmax, quality − λ·cost, a threshold with a default expert), on the user's
query (inside a query engine, not the prompt template around it); a conversation keeps its
expert unless a turn is confidently another's. The expert that answered also parses its own tool
calls (its name travels in the response). An expert that fails transiently is replaced by the
policy's next choice, and the decision records it.
"""

from __future__ import annotations

from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Generator,
    Iterator,
    Mapping,
    Sequence,
)
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
from llama_index.core.bridge.pydantic import ConfigDict, Field, PrivateAttr
from llama_index.core.llms.llm import LLM

from ir3de_core import IR3DERouter, RoutingDecision, RoutingPolicy
from ir3de_core.decide.fallback import FailurePredicate, is_transient
from ir3de_core.decide.policy import SWITCH_CONFIDENCE
from ir3de_core.experts import check_experts
from ir3de_llamaindex._conversation import ReplyLog, Turn, thread_expert, without_decisions
from ir3de_llamaindex._dispatch import Dispatcher
from ir3de_llamaindex._llm_support import calls_tools, chat_text, reply_text, stamp
from ir3de_llamaindex._queries import active_query, query_in_text
from ir3de_llamaindex._streams import apeek, astamped, peek, stamped
from ir3de_llamaindex._tools import PIN_KEY, ToolRoutedLLM

__all__ = ["IR3DELLM"]

T = TypeVar("T")


class IR3DELLM(ToolRoutedLLM):
    """Route each call to one of several expert LLMs with a fitted IR3DE router.

    ``chat``/``complete``, their streaming and async forms and the ``*_with_tools`` methods
    delegate to the expert `policy` chooses. The decision as it ended
    (``RoutingDecision.to_dict()``: the expert that answered, its rule, predicted quality, cost,
    λ, threshold and ``fallback_from``) is stored in the response's
    ``additional_kwargs["ir3de_decision"]`` (on every streamed chunk, and on the reply message)
    and emitted as an `IR3DERoutingEvent`. A failure `fallback_on` accepts makes the policy
    decide again without the failed expert; a stream falls back only before its first chunk.

    ``predict``, ``stream``, ``structured_predict`` and their async forms (what query engines,
    response synthesizers, selectors and chat engines call) route on the template's query
    (``query_str``, else ``question``), not on the prompt formatted around it; a prompt made from
    one of LlamaIndex's query templates and sent to ``chat``/``complete`` directly is routed on
    the query cut out of it.

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
    switch_confidence: float | None = Field(
        default=SWITCH_CONFIDENCE,
        ge=0.0,
        le=1.0,
        description="Confidence a turn needs to move a conversation to another expert.",
    )
    """A conversation keeps the expert of its last assistant turn (rule ``sticky``) unless the
    new turn's decision picks another expert with confidence ≥ `switch_confidence`; inside a
    tool loop (no user turn since that expert answered) it always keeps it. None: every turn is
    decided afresh (tool loops still keep their expert). The default, 0.8, asks a new expert to
    be four times as likely as all the others together (confidences are calibrated by the
    router's cross-validation): with all-MiniLM-L6-v2 sentence features over 5 experts, 23 of 30
    labelled questions reach it for their own expert (neither misrouted one does) and 11 of 12
    generic follow-ups ("Why?", "Can you make that shorter?") stay below it; with the default
    token features, 12 of 30 (and 1 misrouted) and 10 of 12."""
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

    _replies: ReplyLog = PrivateAttr(default_factory=ReplyLog)

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
        featurizer: Any = "tokens",
        **kwargs: Any,
    ) -> IR3DELLM:
        """Fit a router on example prompts per expert and route between `experts` with it.

        Args:
            experts: expert LLMs by name.
            examples: example prompts per expert name (each expert needs at least one).
            featurizer: the router's featurizer (default ``"tokens"``, as `IR3DERouter`'s;
                every other setting is the router's self-tuned default).
            **kwargs: further `IR3DELLM` fields (``policy``, ``switch_confidence``,
                ``route_on``, ``max_attempts``, ``fallback_on``).
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
        """The decision a call would make for a prompt or a conversation (the conversation's
        expert kept as in a call), without calling any expert."""
        turn = self._prompt_turn(messages) if isinstance(messages, str) else self._turn(messages)
        return self._dispatcher().decide(turn)

    # ------------------------------------------------------------------ chat and complete
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Chat with the chosen expert."""
        pinned = kwargs.pop(PIN_KEY, None)
        sent = without_decisions(messages)
        response, record = self._dispatcher().call(
            "chat", self._turn(messages), lambda llm: llm.chat(sent, **kwargs), pinned=pinned
        )
        return self._answered(response, record)

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        """Complete with the chosen expert (routed on the prompt's query)."""
        response, record = self._dispatcher().call(
            "complete",
            self._prompt_turn(prompt),
            lambda llm: llm.complete(prompt, formatted=formatted, **kwargs),
        )
        return self._answered(response, record)

    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        """Stream from the chosen expert."""
        pinned = kwargs.pop(PIN_KEY, None)
        sent = without_decisions(messages)
        stream, record = self._dispatcher().call(
            "stream_chat",
            self._turn(messages),
            lambda llm: peek(llm.stream_chat(sent, **kwargs)),
            pinned=pinned,
        )
        return self._stamped(stream, record)

    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        """Stream a completion from the chosen expert."""
        stream, record = self._dispatcher().call(
            "stream_complete",
            self._prompt_turn(prompt),
            lambda llm: peek(llm.stream_complete(prompt, formatted=formatted, **kwargs)),
        )
        return self._stamped(stream, record)

    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Async chat with the chosen expert."""
        pinned = kwargs.pop(PIN_KEY, None)
        sent = without_decisions(messages)
        response, record = await self._dispatcher().acall(
            "achat", self._turn(messages), lambda llm: llm.achat(sent, **kwargs), pinned=pinned
        )
        return self._answered(response, record)

    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        """Async completion with the chosen expert."""
        response, record = await self._dispatcher().acall(
            "acomplete",
            self._prompt_turn(prompt),
            lambda llm: llm.acomplete(prompt, formatted=formatted, **kwargs),
        )
        return self._answered(response, record)

    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        """Async stream from the chosen expert."""
        pinned = kwargs.pop(PIN_KEY, None)
        sent = without_decisions(messages)

        async def call(llm: LLM) -> ChatResponseAsyncGen:
            return await apeek(await llm.astream_chat(sent, **kwargs))

        stream, record = await self._dispatcher().acall(
            "astream_chat", self._turn(messages), call, pinned=pinned
        )
        return self._astamped(stream, record)

    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        """Async stream of a completion from the chosen expert."""

        async def call(llm: LLM) -> CompletionResponseAsyncGen:
            return await apeek(await llm.astream_complete(prompt, formatted=formatted, **kwargs))

        stream, record = await self._dispatcher().acall(
            "astream_complete", self._prompt_turn(prompt), call
        )
        return self._astamped(stream, record)

    # ------------------------------------------------------------------ routing
    def _turn(self, messages: Sequence[ChatMessage]) -> Turn:
        """The query of a template being predicted, else the chat's text (`route_on`); and the
        expert of the conversation so far."""
        text = active_query(self) or chat_text(messages, self.route_on)
        held, in_loop = thread_expert(messages, self._replies, self.experts)
        return Turn(text, held, in_loop)

    def _prompt_turn(self, prompt: str) -> Turn:
        return Turn(active_query(self) or query_in_text(prompt) or prompt)

    def _answered(self, response: T, record: dict[str, Any]) -> T:
        self._replies.add(reply_text(response), record["expert"])
        return stamp(response, record)

    def _stamped(self, stream: Iterator[T], record: dict[str, Any]) -> Generator[T, None, None]:
        return stamped(stream, lambda c: stamp(c, record), self._remember(record))

    def _astamped(
        self, stream: AsyncIterator[T], record: dict[str, Any]
    ) -> AsyncGenerator[T, None]:
        return astamped(stream, lambda c: stamp(c, record), self._remember(record))

    def _remember(self, record: dict[str, Any]) -> Callable[[object], None]:
        return lambda last: self._replies.add(reply_text(last), record["expert"])

    def _dispatcher(self) -> Dispatcher:
        return Dispatcher(
            self.router,
            self.experts,
            self.active_policy,
            self.max_attempts,
            self.fallback_on,
            self.switch_confidence,
        )
