"""The gateway benchmark's fake upstream and load generator (`benchmarks.gateway` runs them).

The upstream is a bare ASGI OpenAI-compatible app answering canned completions, plain or
streamed, after an optional wait (``--upstream-ms``: an LLM's latency without its CPU). The load
generator sends a fixed number of chat completions at a fixed concurrency over keep-alive httpx
connections, scoring every n-th answer with ``POST /v1/feedback``; a failed request counts as an
error and what it answered is kept in `_ERRORS`.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx

__all__ = ["fake_upstream"]

_ANSWER = {
    "id": "chatcmpl-fake",
    "object": "chat.completion",
    "created": 0,
    "model": "fake",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13},
}
_COMPLETION = json.dumps(_ANSWER).encode()
_CHUNK = {**_ANSWER, "object": "chat.completion.chunk"}
_CHUNK["choices"] = [{"index": 0, "delta": {"content": "ok "}, "finish_reason": None}]
_STREAM = b"".join([f"data: {json.dumps(_CHUNK)}\n\n".encode()] * 8) + b"data: [DONE]\n\n"
_MODELS = json.dumps({"object": "list", "data": [{"id": "fake", "object": "model"}]}).encode()


_ERRORS: list[str] = []  # what failed requests answered (the first few are printed)
_DELAY = {"seconds": 0.0}  # the fake upstream's wait before answering (--upstream-ms)


async def fake_upstream(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A bare ASGI OpenAI-compatible upstream: canned completions, plain or streamed, after
    ``_DELAY["seconds"]`` (a sleep: an LLM's latency without its CPU)."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            done = message["type"] == "lifespan.shutdown"
            await send({"type": f"lifespan.{'shutdown' if done else 'startup'}.complete"})
            if done:
                return
    raw, more = b"", True
    while more:
        message = await receive()
        raw += message.get("body", b"")
        more = message.get("more_body", False)
    streamed = b'"stream":true' in raw.replace(b" ", b"")
    if _DELAY["seconds"] > 0:
        await asyncio.sleep(_DELAY["seconds"])
    body = _MODELS if scope["path"].endswith("/models") else _STREAM if streamed else _COMPLETION
    kind = b"text/event-stream" if streamed else b"application/json"
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _load(
    url: str,
    prompts: list[str],
    *,
    requests: int,
    concurrency: int,
    stream: bool = False,
    feedback_every: int = 0,
) -> tuple[list[float], int, int, float]:
    """Send `requests` chat completions at `concurrency`; returns latencies (ms), errors,
    feedback events accepted, and the wall time."""
    latencies: list[float] = []
    counts = {"errors": 0, "feedback": 0, "next": 0}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        async def worker() -> None:
            while counts["next"] < requests:
                i = counts["next"]
                counts["next"] += 1
                body = {
                    "model": "ir3de",
                    "messages": [{"role": "user", "content": prompts[i % len(prompts)]}],
                    "max_tokens": 16,
                    **({"stream": True} if stream else {}),
                }
                started = time.perf_counter()
                status, answer = await _post(client, "/v1/chat/completions", body)
                latencies.append((time.perf_counter() - started) * 1000)
                if status != 200:
                    counts["errors"] += 1
                elif feedback_every and i % feedback_every == 0:
                    score = {"id": json.loads(answer)["id"], "score": (i % 10) / 10}
                    ok = (await _post(client, "/v1/feedback", score))[0] == 200
                    counts["feedback" if ok else "errors"] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return latencies, counts["errors"], counts["feedback"], wall


async def _post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> tuple[int, str]:
    """POST `body`; the status and text (0 and the exception for a broken connection, which
    counts as an error and is printed, not raised)."""
    try:
        response = await client.post(path, json=body)
    except httpx.TransportError as e:
        _ERRORS.append(f"{path}: {type(e).__name__}: {e}")
        return 0, ""
    if response.status_code != 200:
        _ERRORS.append(f"{path} {response.status_code}: {response.text[:200]}")
    return response.status_code, response.text
