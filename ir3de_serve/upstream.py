"""Calling the experts with the official `openai` async client: the body passed through unchanged.

Only ``model`` is replaced (by the expert's upstream model); ``messages``, ``tools``,
``tool_choice``, ``response_format`` and every other field go upstream as the client sent them:
the body is posted with the client's generic ``post`` (its connection pool, timeouts, errors and
keys), not re-typed by the SDK's parameter transforms.
Answers come back as raw JSON (non-streaming) or raw server-sent events (streaming), of which only
``id`` and ``model`` are rewritten: the gateway's completion id and the expert's name.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from openai import AsyncOpenAI

from ir3de_serve.config import ExpertConfig
from ir3de_serve.transport import FastPost

__all__ = ["Rewrite", "UpstreamStream", "Upstreams", "sse_events"]

Rewrite = Callable[[dict[str, Any]], None]
"""Changes an answer (or a streamed chunk) in place before the client sees it."""


@dataclass
class UpstreamStream:
    """An expert's answer as server-sent events, opened and its first event already read.

    Attributes:
        first: the first event (bytes ending with a blank line), rewritten.
        rest: the following events, rewritten, as they arrive.
        close: closes the upstream response (stops the expert's generation).
    """

    first: bytes
    rest: AsyncIterator[bytes]
    close: Callable[[], Awaitable[object]]


class Upstreams:
    """One `AsyncOpenAI` client per expert (connection pools are reused across requests).

    Args:
        experts: the experts of the config, by name.
    """

    def __init__(self, experts: Mapping[str, ExpertConfig]) -> None:
        self.experts = dict(experts)
        self.secrets = frozenset(e.api_key() for e in self.experts.values()) - {"none"}
        """The experts' keys: never shown to a client (`ir3de_serve.errors.redact`)."""
        self._clients = {
            name: AsyncOpenAI(
                base_url=e.base_url,
                api_key=e.api_key(),
                max_retries=e.max_retries,
                timeout=e.timeout_seconds,
            )
            for name, e in self.experts.items()
        }
        self._fast = {  # experts without SDK retries: the cheaper transport (same errors)
            name: FastPost(self._clients[name])
            for name, e in self.experts.items()
            if e.max_retries == 0
        }

    async def complete(self, expert: str, body: Mapping[str, Any], rewrite: Rewrite) -> bytes:
        """A non-streaming completion from `expert`: the answer's JSON bytes, rewritten.

        Raises:
            openai.APIError: the expert failed (its status, a timeout, a lost connection).
        """
        fast = self._fast.get(expert)
        if fast is not None:
            content = await (await fast.post(self._payload(expert, body))).read()
        else:
            response = await self._clients[expert].post(
                "/chat/completions", cast_to=httpx.Response, body=self._payload(expert, body)
            )
            content = response.content
        answer = json.loads(content)
        if isinstance(answer, dict):
            rewrite(answer)
        return json.dumps(answer, ensure_ascii=False).encode()

    async def open_stream(
        self, expert: str, body: Mapping[str, Any], rewrite: Rewrite
    ) -> UpstreamStream:
        """Start a streaming completion from `expert` and read its first event.

        The first event is read before returning so that a failing expert fails here, where
        the gateway can still fall back, and not after the client has been answered.
        """
        fast = self._fast.get(expert)
        lines: AsyncIterator[str]
        close: Callable[[], Awaitable[object]]
        if fast is not None:
            raw = await fast.post(self._payload(expert, body), stream=True)
            lines, close = raw.lines(), raw.close
        else:
            response = await self._clients[expert].post(  # an unread response: raw events
                "/chat/completions",
                cast_to=httpx.Response,
                body=self._payload(expert, body),
                stream=True,
            )
            lines, close = response.aiter_lines(), response.aclose
        events = sse_events(lines, rewrite)
        try:
            first = await anext(events, b"")
        except BaseException:
            await close()
            raise
        return UpstreamStream(first=first, rest=events, close=close)

    async def aclose(self) -> None:
        """Close every client's connections."""
        for fast in self._fast.values():
            await fast.aclose()
        for client in self._clients.values():
            await client.close()

    def _payload(self, expert: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """The client's body with only ``model`` replaced (sent as JSON, untransformed)."""
        return {**body, "model": self.experts[expert].model}


async def sse_events(lines: AsyncIterator[str], rewrite: Rewrite) -> AsyncIterator[bytes]:
    """Group server-sent event lines into events, rewriting each ``data:`` JSON object.

    Comments, ``event:`` lines and ``data: [DONE]`` pass through unchanged.
    """
    event: list[str] = []
    async for line in lines:
        if line:
            event.append(_rewritten(line, rewrite))
            continue
        if event:
            yield ("\n".join(event) + "\n\n").encode()
            event = []
    if event:
        yield ("\n".join(event) + "\n\n").encode()


def _rewritten(line: str, rewrite: Rewrite) -> str:
    if not line.startswith("data:"):
        return line
    payload = line[5:].lstrip(" ")
    if not payload.startswith("{"):
        return line
    try:
        chunk = json.loads(payload)
    except ValueError:
        return line
    rewrite(chunk)
    return "data: " + json.dumps(chunk, ensure_ascii=False)
