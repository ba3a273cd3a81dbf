"""What guards the gateway's door: a bound on request bodies and the optional client key."""

from __future__ import annotations

import hmac
import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ir3de_serve.errors import GatewayError, error_body

__all__ = ["BodyLimit", "check_key"]


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: a request body over `max_bytes` is answered 413 before it is read whole.

    A declared ``Content-Length`` over the bound is refused at once; a chunked body is counted as
    it arrives and refused when it passes the bound.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _TooLarge:
            if started:
                raise
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        message = (
            f"the request body is larger than {self.max_bytes} bytes "
            "([server] max_request_bytes); send a smaller request"
        )
        body = json.dumps(error_body(413, message, code="request_too_large")).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def check_key(expected: str | None, authorization: Any) -> None:
    """Raise a 401 unless ``Authorization: Bearer <expected>`` was sent (or no key is set)."""
    if expected is None:
        return
    scheme, _, given = str(authorization or "").partition(" ")
    matches = hmac.compare_digest(given.strip().encode(), expected.encode())
    if scheme.lower() != "bearer" or not matches:
        msg = (
            "missing or incorrect API key: send 'Authorization: Bearer <key>' with the "
            "gateway's key (the variable named by [server] api_key_env)"
        )
        raise GatewayError(401, msg, code="invalid_api_key")
