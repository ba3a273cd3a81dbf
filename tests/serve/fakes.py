"""A small in-process OpenAI-compatible upstream, for the gateway's own error paths and bookkeeping.

It answers canned completions (plain or streamed), can fail with a given status, and records
every body it receives, so tests can check what the gateway passed through.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from starlette.types import Receive, Scope, Send

__all__ = ["FakeUpstream"]


class FakeUpstream:
    """An ASGI app speaking enough of OpenAI's chat completions API.

    Args:
        name: the upstream model name it reports (and the text it answers: ``"<name> says hi"``).
        status: answer every completion with this HTTP error status instead (None: succeed).
        delay: seconds to wait before answering.
        chunks: words of a streamed answer.
        gap: seconds between streamed chunks.
        break_after: stream this many chunks, then drop the connection (None: finish).
    """

    def __init__(
        self,
        name: str,
        *,
        status: int | None = None,
        delay: float = 0.0,
        chunks: int = 3,
        gap: float = 0.0,
        break_after: int | None = None,
    ) -> None:
        self.name = name
        self.status = status
        self.delay = delay
        self.chunks = chunks
        self.gap = gap
        self.break_after = break_after
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"].endswith("/models"):
            await _json(
                send, 200, {"object": "list", "data": [{"id": self.name, "object": "model"}]}
            )
            return
        body = json.loads(raw)
        self.bodies.append(body)
        self.headers.append({k.decode(): v.decode() for k, v in scope["headers"]})
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.status is not None:
            error = {"message": f"{self.name} failed with {self.status}", "type": "server_error"}
            await _json(send, self.status, {"error": {**error, "param": None, "code": "boom"}})
        elif body.get("stream"):
            await self._stream(send)
        else:
            await _json(send, 200, self.completion())

    def completion(self) -> dict[str, Any]:
        """The canned answer."""
        return {
            "id": "chatcmpl-upstream",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": f"{self.name} says hi"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
        }

    async def _stream(self, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        words = [f"{self.name}", *[f" w{i}" for i in range(1, self.chunks)]]
        for i, word in enumerate(words):
            delta = {"role": "assistant", "content": word} if i == 0 else {"content": word}
            chunk = {
                "id": "chatcmpl-upstream",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": self.name,
                "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
            }
            if i == self.break_after:
                raise ConnectionError("the fake expert drops the stream")
            if i and self.gap:
                await asyncio.sleep(self.gap)
            data = f"data: {json.dumps(chunk)}\n\n".encode()
            await send({"type": "http.response.body", "body": data, "more_body": True})
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})


async def _json(send: Send, status: int, value: Any) -> None:
    body = json.dumps(value).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
