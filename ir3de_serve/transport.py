"""`FastPost`: an expert's ``POST /chat/completions`` over aiohttp, failing as the `openai` SDK does.

Measured on loopback at concurrency 16 (docs/benchmarks.md), the SDK's ``post`` (httpx under it)
costs ~1.7 ms of CPU per call and aiohttp ~0.12 ms; at one worker that was most of what the
gateway added. An expert without SDK retries (``max_retries = 0``, the default: the gateway falls
back instead) is called with this; one with retries keeps the SDK's retry policy.

Failures are raised as the SDK's own exceptions, so falling back (`ir3de_core.decide.fallback`)
and the client's error (`ir3de_serve.errors.upstream_error`) are unchanged: a status ≥ 400 is the
SDK's status error (``RateLimitError``, ``InternalServerError``, … with the response), a timeout
``APITimeoutError`` and a lost connection ``APIConnectionError``. Timeouts are per connect and
per read, as the SDK's (a long stream is not cut while it keeps sending).
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import httpx
from openai import APIConnectionError, APITimeoutError, AsyncOpenAI

__all__ = ["FastPost", "RawResponse"]


class RawResponse:
    """An expert's successful answer, not yet read (a stream) or read (`body`)."""

    def __init__(self, response: Any) -> None:
        self._response = response

    async def read(self) -> bytes:
        """The whole body (then the connection goes back to the pool)."""
        try:
            return bytes(await self._response.read())
        finally:
            self._response.release()

    async def lines(self) -> AsyncIterator[str]:
        """The body's lines as they arrive, without their line ends."""
        async for raw in self._response.content:
            yield raw.decode("utf-8").rstrip("\r\n")

    async def close(self) -> None:
        """Close the connection (an expert that is streaming stops)."""
        self._response.close()


class FastPost:
    """Posts to one expert over a pooled aiohttp session, created in the loop that uses it.

    Args:
        client: the expert's `AsyncOpenAI` client (its base URL, key and timeout are used, and
            it builds the status errors).
    """

    def __init__(self, client: AsyncOpenAI) -> None:
        self._client = client
        self._url = str(client.base_url).rstrip("/") + "/chat/completions"
        self._headers = {
            "authorization": f"Bearer {client.api_key}",
            "content-type": "application/json",
            "accept": "application/json",
        }
        timeout = client.timeout
        seconds = timeout.read if isinstance(timeout, httpx.Timeout) else timeout
        self._seconds = float(seconds) if isinstance(seconds, int | float) else None
        self._proxy = _proxy_for(self._url)
        self._session: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def post(self, body: dict[str, Any], *, stream: bool = False) -> RawResponse:
        """Send `body` (JSON); a 2xx answer is returned unread.

        Raises:
            openai.APIStatusError: the expert answered ≥ 400 (the SDK's subclass per status).
            openai.APITimeoutError: connecting or reading timed out.
            openai.APIConnectionError: the connection failed or was lost.
        """
        import aiohttp

        data = json.dumps(body, ensure_ascii=False).encode()
        request = _Deferred(self._url, data)
        try:
            response = await self._ready().post(
                self._url, data=data, headers=self._headers, proxy=self._proxy
            )
        except (TimeoutError, asyncio.TimeoutError) as e:
            raise APITimeoutError(request=request.httpx()) from e
        except aiohttp.ClientError as e:
            raise APIConnectionError(request=request.httpx()) from e
        if response.status >= 400:
            raise await self._status_error(response, request)
        return RawResponse(response)

    async def aclose(self) -> None:
        """Close the session (when it belongs to the running loop)."""
        session, self._session = self._session, None
        if session is not None and self._loop is asyncio.get_running_loop():
            await session.close()

    def _ready(self) -> Any:
        """The session of the running loop (a new one when the loop changed)."""
        import aiohttp

        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop or self._session.closed:
            timeout = aiohttp.ClientTimeout(
                total=None, sock_connect=self._seconds, sock_read=self._seconds
            )
            connector = aiohttp.TCPConnector(
                limit=0, ssl=_ssl_context(), keepalive_timeout=_KEEP_IDLE_SECONDS
            )
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=timeout, auto_decompress=True
            )
            self._loop = loop
        return self._session

    async def _status_error(self, response: Any, request: _Deferred) -> Exception:
        try:
            content = await response.read()
        except Exception:  # a body that cannot be read: the status says enough
            content = b""
        finally:
            response.release()
        answer = httpx.Response(
            response.status,
            headers=list(response.headers.items()),
            content=content,
            request=request.httpx(),
        )
        return self._client._make_status_error_from_response(answer)


class _Deferred:
    """The request as httpx sees it, built only for an error."""

    def __init__(self, url: str, data: bytes) -> None:
        self.url, self.data = url, data

    def httpx(self) -> httpx.Request:
        return httpx.Request("POST", self.url, content=self.data)


def _proxy_for(url: str) -> str | None:
    """The proxy the environment names for `url` (``HTTPS_PROXY``, ``NO_PROXY``…), read once:
    aiohttp's ``trust_env`` would look it (and ``.netrc``) up on a thread for every request."""
    parts = urlsplit(url)
    proxy = getproxies().get(parts.scheme)
    if not proxy or proxy_bypass(parts.hostname or ""):
        return None
    return proxy


_KEEP_IDLE_SECONDS = 4.0
"""Idle connections to an expert are dropped after this, before servers with uvicorn's default
(5 s: vLLM, llama.cpp's Python server, FastAPI apps) close them: reusing one the server is
closing fails the call (``APIConnectionError``, a fallback), as seen at concurrency 64."""

_CONTEXT: list[ssl.SSLContext] = []


def _ssl_context() -> ssl.SSLContext:
    """The CA bundle httpx (and so the SDK) trusts, made once."""
    if not _CONTEXT:
        try:
            import certifi

            _CONTEXT.append(ssl.create_default_context(cafile=certifi.where()))
        except ImportError:
            _CONTEXT.append(ssl.create_default_context())
    return _CONTEXT[0]
