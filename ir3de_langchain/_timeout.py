"""Bounding how long one expert may take before the next-best one is tried."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["ExpertTimeoutError", "acall_with_timeout", "call_with_timeout"]

T = TypeVar("T")


class ExpertTimeoutError(TimeoutError):
    """An expert did not answer within the router's `timeout`."""


def call_with_timeout(call: Callable[[], T], timeout: float | None, expert: str) -> T:
    """Run `call()`, raising `ExpertTimeoutError` after `timeout` seconds (None: no limit).

    Synchronous Python cannot cancel a running call: on timeout the call goes on in a daemon
    thread and its result is discarded. Prefer the async API, which cancels, for hard limits.
    """
    if timeout is None:
        return call()
    future: concurrent.futures.Future[T] = concurrent.futures.Future()
    context = contextvars.copy_context()  # keeps the callbacks and config of the current run

    def target() -> None:
        try:
            future.set_result(context.run(call))
        except BaseException as e:  # handed to the caller through the future
            future.set_exception(e)

    threading.Thread(target=target, name=f"ir3de-{expert}", daemon=True).start()
    try:
        return future.result(timeout=timeout)
    except concurrent.futures.TimeoutError as e:
        if future.done():
            raise
        msg = f"expert {expert!r} did not answer within {timeout} s"
        raise ExpertTimeoutError(msg) from e


async def acall_with_timeout(
    call: Callable[[], Awaitable[T]], timeout: float | None, expert: str
) -> T:
    """Await `call()`, cancelling it and raising `ExpertTimeoutError` after `timeout` seconds."""
    if timeout is None:
        return await call()
    try:
        return await asyncio.wait_for(call(), timeout)
    except asyncio.TimeoutError as e:
        msg = f"expert {expert!r} did not answer within {timeout} s"
        raise ExpertTimeoutError(msg) from e
