"""Errors in OpenAI's format: ``{"error": {"message", "type", "param", "code"}}`` with its status.

Clients written for OpenAI (the SDKs, LangChain, LlamaIndex) read the message from this shape and
raise their usual exceptions (``BadRequestError`` for 400, ``NotFoundError`` for 404, ...).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any

from ir3de_core.decide.fallback import ExpertsFailedError

__all__ = ["GatewayError", "error_body", "redact", "upstream_error"]

_TOKEN = re.compile(r"(?i)\b(sk-|key-|bearer\s+)[A-Za-z0-9._~+/=-]{6,}")
_CODE = re.compile(r"[a-z0-9_.]{1,64}")  # an upstream's error code passes when it is a name
_MAX_MESSAGE = 500
_CREDENTIALS = frozenset({401, 403, 407})

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class GatewayError(Exception):
    """A request the gateway answers with an error.

    Args:
        status: the HTTP status.
        message: what went wrong and what to do, for the client.
        code: a short machine-readable code (e.g. ``model_not_found``).
        param: the request field at fault, if any.
        body: the complete error body to send instead (an upstream's own, passed through).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.body = body if body is not None else error_body(status, message, code, param)


def error_body(
    status: int, message: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """OpenAI's error object for `status`."""
    kind = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def redact(text: str, secrets: Collection[str] = ()) -> str:
    """`text` without the given secrets or anything shaped like a key, at most 500 characters."""
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    text = _TOKEN.sub(lambda m: m.group(1) + "[redacted]", text)
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + "…"


def upstream_error(error: BaseException, secrets: Collection[str] = ()) -> GatewayError:
    """The gateway's answer to an upstream failure that was not (or could not be) fallen back.

    An upstream's error body is never passed on as is (it may echo the gateway's key for the
    expert): a 401/403 from the expert is the gateway's own credential problem, answered 502
    with no upstream text; other statuses pass with the upstream's message, `redact`-ed. A lost
    connection is 502 and a timeout 504; several experts failing transiently is 502 (504 when
    they all timed out), naming each failure by type and status.
    """
    if isinstance(error, ExpertsFailedError) and len(error.errors) == 1:
        return upstream_error(next(iter(error.errors.values())), secrets)
    if isinstance(error, ExpertsFailedError):
        timeouts = all(type(e).__name__ == "APITimeoutError" for e in error.errors.values())
        status = 504 if timeouts else 502
        tried = "; ".join(f"{name}: {_describe(e)}" for name, e in error.errors.items())
        message = f"every expert tried failed ({tried})"
        return GatewayError(status, message, code="upstream_unavailable")
    code = getattr(error, "status_code", None)
    if isinstance(code, int) and code in _CREDENTIALS:
        msg = (
            f"the expert refused the gateway's credentials ({code}); the operator should check "
            "the expert's api_key_env"
        )
        return GatewayError(502, msg, code="upstream_auth")
    if isinstance(code, int) and 400 <= code < 600:
        body = _json_body(getattr(error, "response", None))
        upstream = body.get("error") if isinstance(body, dict) else None
        text = upstream.get("message") if isinstance(upstream, dict) else None
        message = redact(str(text), secrets) if text is not None else f"the expert answered {code}"
        given = upstream.get("code") if isinstance(upstream, dict) else None
        kept = given if isinstance(given, str) and _CODE.fullmatch(given) else "upstream_error"
        return GatewayError(code, message, code=kept)
    if type(error).__name__ == "APITimeoutError":
        return GatewayError(504, f"the expert timed out: {_describe(error)}", code="timeout")
    return GatewayError(502, f"the expert failed: {_describe(error)}", code="upstream_error")


def _describe(error: BaseException) -> str:
    """The error's type and status, never its text (an upstream's body may be in it)."""
    code = getattr(error, "status_code", None)
    return type(error).__name__ + (f" ({code})" if isinstance(code, int) else "")


def _json_body(response: Any) -> Any:
    try:
        return json.loads(response.content) if response is not None else None
    except (ValueError, AttributeError, TypeError):
        return None
