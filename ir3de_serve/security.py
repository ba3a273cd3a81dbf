"""What guards the gateway's door: a bound on request bodies, the client and admin keys, and
the rule that a gateway off loopback has keys."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ir3de_serve.errors import GatewayError, error_body

__all__ = ["LOOPBACK", "BodyLimit", "KeyRing", "check_exposure"]

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


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


class KeyRing:
    """The keys one kind of endpoint accepts, each naming a client.

    Args:
        env: the variable holding the keys, comma-separated (None: no key asked; every
            request is the anonymous client ``""``).
        what: the config key, for the 401 message.
    """

    def __init__(self, env: str | None, what: str) -> None:
        self.what = what
        raw = os.environ[env] if env else ""
        self.keys = [k.strip() for k in raw.split(",") if k.strip()] if env else []

    @property
    def required(self) -> bool:
        """Whether a key must be sent."""
        return bool(self.keys)

    def client(self, authorization: Any) -> str | None:
        """The client the header names ("" without keys), or None for a missing or wrong key."""
        if not self.keys:
            return ""
        scheme, _, given = str(authorization or "").partition(" ")
        token = given.strip().encode()
        found = None
        for key in self.keys:  # compare with every key: the time does not say which matched
            if hmac.compare_digest(token, key.encode()) and scheme.lower() == "bearer":
                found = hashlib.sha256(key.encode()).hexdigest()[:16]
        return found

    def check(self, authorization: Any) -> str:
        """The client's id, or a 401 naming the config key to fix."""
        client = self.client(authorization)
        if client is None:
            msg = (
                "missing or incorrect API key: send 'Authorization: Bearer <key>' with one of "
                f"the gateway's keys (the variable named by {self.what})"
            )
            raise GatewayError(401, msg, code="invalid_api_key")
        return client


def check_exposure(host: str, api_key_env: str | None, admin_key_env: str | None) -> None:
    """Refuse to serve off loopback without a client key and a separate feedback/admin key.

    Raises:
        ConfigError: `host` is not loopback and a key is not configured.
    """
    from ir3de_serve.config import ConfigError

    if host in LOOPBACK:
        return
    keys = (("api_key_env", api_key_env), ("admin_key_env", admin_key_env))
    missing = [k for k, v in keys if v is None]
    if missing:
        names = " and ".join(f"[server] {m}" for m in missing)
        msg = (
            f"refusing to serve on {host} without keys: anyone who reaches it could use the "
            f"experts and steer the router; set {names} (or bind 127.0.0.1)"
        )
        raise ConfigError(msg)
