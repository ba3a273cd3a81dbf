"""Expert chat models for the tests: LangChain's own fakes with recorded replies, and a broken one.

`GenericFakeChatModel` replays recorded `AIMessage`s (tool calls included) but has no
`bind_tools`; `ToolCallingFake` adds one that records which tools each call was offered.
`Broken` is our own error path: an expert whose endpoint is down (or that refuses every request).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, GenericFakeChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field


class ToolCallingFake(GenericFakeChatModel):
    """`GenericFakeChatModel` that accepts `bind_tools` and records the tools it was offered."""

    offered: list[list[str]] = Field(default_factory=list)
    """Tool names of each `bind_tools` call."""
    tool_choices: list[Any] = Field(default_factory=list)
    """`tool_choice` of each `bind_tools` call."""

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: Any = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        self.offered.append([_name(convert_to_openai_tool(t)) for t in tools])
        self.tool_choices.append(tool_choice)
        return self.bind(**kwargs)


def _name(spec: dict[str, Any]) -> str:
    """A tool's name; a provider built-in (e.g. ``{"type": "web_search"}``) by its type."""
    return str(spec["function"]["name"] if "function" in spec else spec["type"])


def replies(*messages: AIMessage | str) -> ToolCallingFake:
    """An expert that answers with `messages`, one per call."""
    return ToolCallingFake(messages=iter(messages))


class Broken(BaseChatModel):
    """An expert whose endpoint is down: every call raises `error` (`ConnectionError`)."""

    calls: int = 0
    """Number of calls so far."""
    error: type[Exception] = ConnectionError
    """What each call raises, with the message ``connection refused``."""

    @property
    def _llm_type(self) -> str:
        return "broken"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.calls += 1
        msg = "connection refused"
        raise self.error(msg)

    def bind_tools(
        self, tools: Sequence[Any], **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        return self.bind()
