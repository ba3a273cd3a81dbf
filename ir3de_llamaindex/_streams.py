"""Streams whose first chunk is pulled early (so a failing expert can still be replaced), and
whose chunks are stamped with the decision."""

from __future__ import annotations

import itertools
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
from typing import Any, TypeVar

__all__ = ["apeek", "astamped", "peek", "stamped"]

T = TypeVar("T")


def peek(stream: Iterator[T]) -> Iterator[T]:
    """Pull the first chunk now (raising now if the expert fails) and replay it."""
    try:
        first = next(stream)
    except StopIteration:
        return iter(())
    return itertools.chain([first], stream)


async def apeek(stream: AsyncIterator[T]) -> AsyncGenerator[T, None]:
    """Async form of `peek`: the first chunk is awaited before this returns."""
    try:
        first = await anext(stream)
    except StopAsyncIteration:
        return _empty()
    return _replay(first, stream)


async def _empty() -> AsyncGenerator[Any, None]:
    return
    yield  # an async generator that yields nothing


async def _replay(first: T, stream: AsyncIterator[T]) -> AsyncGenerator[T, None]:
    yield first
    async for chunk in stream:
        yield chunk


def stamped(
    stream: Iterator[T], mark: Callable[[T], object], done: Callable[[T], object]
) -> Generator[T, None, None]:
    """Each chunk passed through `mark`; `done` sees the last chunk once the stream ends."""
    last: T | None = None
    for chunk in stream:
        mark(chunk)
        last = chunk
        yield chunk
    if last is not None:
        done(last)


async def astamped(
    stream: AsyncIterator[T], mark: Callable[[T], object], done: Callable[[T], object]
) -> AsyncGenerator[T, None]:
    """Async form of `stamped`."""
    last: T | None = None
    async for chunk in stream:
        mark(chunk)
        last = chunk
        yield chunk
    if last is not None:
        done(last)
