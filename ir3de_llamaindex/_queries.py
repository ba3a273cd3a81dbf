"""The user's query inside a LlamaIndex prompt, so that `IR3DELLM` routes on it.

Query engines, response synthesizers, selectors and chat engines do not send the user's query
alone: they format a prompt template (the QA template with the retrieved context, the refine
template with the answer so far) and call ``llm.predict(template, query_str=..., ...)``. The
query is the template's ``query_str`` (``question`` in the condense-question templates), so
`IR3DELLM`'s ``predict``-family methods make it the text routed by the ``chat``/``complete``
call they make (a context variable, per LLM, so async tasks and threads do not mix). A prompt
formatted elsewhere and passed to ``chat``/``complete`` directly is matched against
LlamaIndex's own query templates, and the query is cut out of it.
"""

from __future__ import annotations

import functools
import string
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from llama_index.core.prompts import (
    ChatPromptTemplate,
    PromptTemplate,
    chat_prompts,
    default_prompts,
)
from llama_index.core.prompts.base import BasePromptTemplate

__all__ = [
    "QUERY_VARIABLES",
    "active_query",
    "awithin",
    "query_in_text",
    "querying",
    "template_query",
    "within",
]

T = TypeVar("T")
QUERY_VARIABLES = ("query_str", "question")
"""Prompt variables that hold the user's query, in order of preference."""
MIN_MARKER = 8
"""Shortest template text before the query that identifies a template."""

_ACTIVE: ContextVar[tuple[int, str] | None] = ContextVar("ir3de_query", default=None)


def template_query(prompt: BasePromptTemplate, prompt_args: Mapping[str, Any]) -> str | None:
    """The query a template is formatted with (``query_str``, else ``question``), or None."""
    for name in QUERY_VARIABLES:
        value = prompt_args.get(name, prompt.kwargs.get(name))
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def query_in_text(text: str) -> str | None:
    """The query of a prompt formatted from one of LlamaIndex's query templates, or None."""
    for before, after in _markers():
        start = text.rfind(before)
        if start < 0:
            continue
        start += len(before)
        end = text.find(after, start) if after.strip() else len(text)
        query = text[start:end].strip() if end >= 0 else ""
        if query:
            return query
    return None


@functools.cache
def _markers() -> tuple[tuple[str, str], ...]:
    """(text before, text after) ``{query_str}`` in LlamaIndex's default query templates."""
    found: dict[tuple[str, str], None] = {}
    for module in (default_prompts, chat_prompts):
        for value in vars(module).values():
            for template in _texts(value):
                pair = _around(template, "query_str")
                if pair is not None and len(pair[0].strip()) >= MIN_MARKER:
                    found[pair] = None
    return tuple(found)


def _texts(value: object) -> list[str]:
    if isinstance(value, PromptTemplate):
        return [value.template]
    if isinstance(value, ChatPromptTemplate):
        return [m.content for m in value.message_templates if isinstance(m.content, str)]
    return []


def _around(template: str, name: str) -> tuple[str, str] | None:
    """The literal text right before and right after the field `name` of a format string."""
    parts = list(string.Formatter().parse(template))
    for i, (literal, field, _, _) in enumerate(parts):
        if field == name:
            after = parts[i + 1][0] if i + 1 < len(parts) else ""
            return literal, after
    return None


@contextmanager
def querying(owner: object, query: str | None) -> Iterator[None]:
    """Make `query` the text `owner` routes on inside the block (nothing when None)."""
    if query is None:
        yield
        return
    token = _ACTIVE.set((id(owner), query))
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def active_query(owner: object) -> str | None:
    """The query set by `querying` for `owner` in this context, or None."""
    active = _ACTIVE.get()
    return active[1] if active is not None and active[0] == id(owner) else None


def within(owner: object, query: str | None, stream: Iterator[T]) -> Generator[T, None, None]:
    """A lazy stream whose steps run with `query` active (the LLM is called while iterating)."""
    while True:
        with querying(owner, query):
            try:
                item = next(stream)
            except StopIteration:
                return
        yield item


async def awithin(
    owner: object, query: str | None, stream: AsyncIterator[T]
) -> AsyncGenerator[T, None]:
    """Async form of `within`."""
    while True:
        with querying(owner, query):
            try:
                item = await anext(stream)
            except StopAsyncIteration:
                return
        yield item
