"""Streaming through a routing runnable: the chosen expert's stream, fallback before the first chunk."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.callbacks.manager import (
    AsyncCallbackManagerForChainRun,
    CallbackManagerForChainRun,
)
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ensure_config, merge_configs
from langchain_core.runnables.utils import AddableDict

from ir3de_core.decide.decision import RoutingDecision
from ir3de_langchain._calling import ExpertRouting
from ir3de_langchain._decision import route_metadata

__all__ = ["StreamingRouting"]


class StreamingRouting(ExpertRouting):
    """`stream`, `transform` and their async forms for a routing runnable."""

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any | None
    ) -> Iterator[Any]:
        """Pass the chosen expert's stream through; fallback happens before the first chunk."""
        decision = self.route(input)
        config = merge_configs(ensure_config(config), {"metadata": route_metadata(decision)})
        yield from self._transform_stream_with_config(
            iter([input]), self._transform, config, decision=decision, **kwargs
        )

    def transform(
        self, input: Iterator[Any], config: RunnableConfig | None = None, **kwargs: Any | None
    ) -> Iterator[Any]:
        """Collect the input, route it, then stream the chosen expert's output."""
        yield from self._transform_stream_with_config(input, self._transform, config, **kwargs)

    def _transform(
        self,
        chunks: Iterator[Any],
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
        *,
        decision: RoutingDecision | None = None,
        **kwargs: Any,
    ) -> Iterator[Any]:
        input = _collect(chunks)
        decision = decision or self.route(input)

        def start(expert: str) -> tuple[list[Any], Iterator[Any]]:
            child_config = self._child_config(config, decision, expert)
            iterator = iter(self.experts[expert].stream(input, child_config, **kwargs))
            return _first(iterator), iterator

        (first, rest), used = self._fallback(decision, start, config)
        if self.return_decision:
            yield AddableDict(decision=used)
        for chunk in [*first, *rest]:
            yield AddableDict(output=chunk) if self.return_decision else chunk

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any | None
    ) -> AsyncIterator[Any]:
        """Async form of `stream`."""
        decision = self.route(input)
        config = merge_configs(ensure_config(config), {"metadata": route_metadata(decision)})

        async def single() -> AsyncIterator[Any]:
            yield input

        async for chunk in self._atransform_stream_with_config(
            single(), self._atransform, config, decision=decision, **kwargs
        ):
            yield chunk

    async def atransform(
        self, input: AsyncIterator[Any], config: RunnableConfig | None = None, **kwargs: Any | None
    ) -> AsyncIterator[Any]:
        """Async form of `transform`."""
        async for chunk in self._atransform_stream_with_config(
            input, self._atransform, config, **kwargs
        ):
            yield chunk

    async def _atransform(
        self,
        chunks: AsyncIterator[Any],
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        *,
        decision: RoutingDecision | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[Any]:
        input = _collect([chunk async for chunk in chunks])
        decision = decision or self.route(input)

        async def start(expert: str) -> tuple[list[Any], AsyncIterator[Any]]:
            child_config = self._child_config(config, decision, expert)
            iterator = aiter(self.experts[expert].astream(input, child_config, **kwargs))
            try:
                return [await anext(iterator)], iterator
            except StopAsyncIteration:
                return [], iterator

        (first, rest), used = await self._afallback(decision, start, config)
        if self.return_decision:
            yield AddableDict(decision=used)
        for chunk in first:
            yield AddableDict(output=chunk) if self.return_decision else chunk
        async for chunk in rest:
            yield AddableDict(output=chunk) if self.return_decision else chunk


def _first(iterator: Iterator[Any]) -> list[Any]:
    """The first chunk as a one-item list (empty when the stream is empty); raises what it raises."""
    for chunk in iterator:
        return [chunk]
    return []


def _collect(chunks: Iterator[Any] | list[Any]) -> Any:
    """The whole input from its chunks (usually one), added together as LangChain does."""
    total: Any = None
    for i, chunk in enumerate(chunks):
        total = chunk if i == 0 else total + chunk
    return total
