"""The tool-calling methods of `IR3DELLM`: each goes to an expert that can call tools, and the
expert that wrote a response parses its tool calls."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator, Sequence
from typing import Any, TypeVar

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
)
from llama_index.core.llms.llm import LLM, ToolSelection
from llama_index.core.tools.types import BaseTool

from ir3de_llamaindex._conversation import Turn, without_decisions
from ir3de_llamaindex._dispatch import Dispatcher
from ir3de_llamaindex._llm_support import conversation, tool_caller
from ir3de_llamaindex._predict import QueryRoutedLLM
from ir3de_llamaindex._streams import apeek, peek
from ir3de_llamaindex.events import DECISION_KEY

__all__ = ["PIN_KEY", "ToolRoutedLLM"]

T = TypeVar("T")
PIN_KEY = "ir3de_expert"  # set by `_prepare_chat_with_tools` so `chat` keeps the same expert


class ToolRoutedLLM(QueryRoutedLLM):
    """``*_with_tools`` through the expert the routing chooses among those that call tools."""

    @abstractmethod
    def _dispatcher(self) -> Dispatcher:
        """The routing of one call."""

    @abstractmethod
    def _turn(self, messages: Sequence[ChatMessage]) -> Turn:
        """What a chat is routed on."""

    @abstractmethod
    def _answered(self, response: T, record: dict[str, Any]) -> T:
        """The response stamped with the decision (and remembered)."""

    @abstractmethod
    def _stamped(self, stream: Iterator[T], record: dict[str, Any]) -> Generator[T, None, None]:
        """A stream of responses stamped with the decision."""

    @abstractmethod
    def _astamped(
        self, stream: AsyncIterator[T], record: dict[str, Any]
    ) -> AsyncGenerator[T, None]:
        """Async form of `_stamped`."""

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
        """Chat with tools through the chosen expert (routed like `chat`)."""
        options = _options(chat_history, verbose, allow_parallel_tool_calls, tool_required)
        response, record = self._dispatcher().call(
            "chat_with_tools",
            self._turn(conversation(user_msg, chat_history)),
            lambda llm: tool_caller(llm).chat_with_tools(
                tools, user_msg=user_msg, **options, **kwargs
            ),
            tools=True,
        )
        return self._answered(response, record)

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
        options = _options(chat_history, verbose, allow_parallel_tool_calls, tool_required)
        response, record = await self._dispatcher().acall(
            "achat_with_tools",
            self._turn(conversation(user_msg, chat_history)),
            lambda llm: tool_caller(llm).achat_with_tools(
                tools, user_msg=user_msg, **options, **kwargs
            ),
            tools=True,
        )
        return self._answered(response, record)

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
        options = _options(chat_history, verbose, allow_parallel_tool_calls, tool_required)
        stream, record = self._dispatcher().call(
            "stream_chat_with_tools",
            self._turn(conversation(user_msg, chat_history)),
            lambda llm: peek(
                tool_caller(llm).stream_chat_with_tools(
                    tools, user_msg=user_msg, **options, **kwargs
                )
            ),
            tools=True,
        )
        return self._stamped(stream, record)

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
        options = _options(chat_history, verbose, allow_parallel_tool_calls, tool_required)

        async def call(llm: LLM) -> ChatResponseAsyncGen:
            stream = await tool_caller(llm).astream_chat_with_tools(
                tools, user_msg=user_msg, **options, **kwargs
            )
            return await apeek(stream)

        turn = self._turn(conversation(user_msg, chat_history))
        stream, record = await self._dispatcher().acall(
            "astream_chat_with_tools", turn, call, tools=True
        )
        return self._astamped(stream, record)

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
        dispatcher = self._dispatcher()
        turn = self._turn(conversation(user_msg, chat_history))
        expert = dispatcher.decide(turn, tools=True).expert
        prepared = tool_caller(dispatcher.experts[expert])._prepare_chat_with_tools_compat(
            tools,
            user_msg=user_msg,
            **_options(chat_history, verbose, allow_parallel_tool_calls, tool_required),
            **kwargs,
        )
        return {**prepared, PIN_KEY: expert}

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = True, **kwargs: Any
    ) -> list[ToolSelection]:
        """Parse tool calls with the expert that wrote the response (named in the response);
        a response from elsewhere is parsed by the first expert that calls tools."""
        dispatcher = self._dispatcher()
        name = response.additional_kwargs.get(DECISION_KEY, {}).get("expert")
        expert = dispatcher.experts.get(name) if isinstance(name, str) else None
        if expert is None:
            expert = dispatcher.experts[dispatcher.available(tools=True)[0]]
        return tool_caller(expert).get_tool_calls_from_response(
            response, error_on_no_tool_call=error_on_no_tool_call, **kwargs
        )


def _options(  # the keyword arguments every *_with_tools call forwards to an expert
    chat_history: list[ChatMessage] | None,
    verbose: bool,
    allow_parallel_tool_calls: bool,
    tool_required: bool,
) -> dict[str, Any]:
    return {
        "chat_history": None if chat_history is None else without_decisions(chat_history),
        "verbose": verbose,
        "allow_parallel_tool_calls": allow_parallel_tool_calls,
        "tool_required": tool_required,
    }
