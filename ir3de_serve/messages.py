"""Reading a chat completion request: validated at the boundary, passed upstream unchanged."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ir3de_serve.config import StickyConfig
from ir3de_serve.errors import GatewayError

__all__ = ["ChatRequest", "in_tool_loop", "parse_chat", "parse_json", "routed_text"]


@dataclass(frozen=True)
class ChatRequest:
    """One ``POST /v1/chat/completions``.

    Attributes:
        body: the client's JSON body, as sent (the upstream receives it with only ``model``
            replaced by the expert's upstream model).
        model: the model the client asked for (``ir3de`` routes; an expert's name forces it).
        stream: whether the client asked for server-sent events.
        text: what the router reads: the last user message's text ("" when there is none).
        in_loop: tool results follow the last assistant turn (a tool-calling loop in progress).
        conversation: the conversation key (sticky header or ``user``), None without one.
    """

    body: dict[str, Any]
    model: str
    stream: bool
    text: str
    in_loop: bool
    conversation: str | None


def parse_json(raw: bytes) -> dict[str, Any]:
    """A JSON object from a request body, or a 400 saying what is wrong."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as e:
        raise GatewayError(400, f"the request body is not valid JSON: {e}") from e
    if not isinstance(body, dict):
        msg = f"the request body must be a JSON object, got {type(body).__name__}"
        raise GatewayError(400, msg)
    return body


def parse_chat(
    raw: bytes,
    headers: Mapping[str, str],
    sticky: StickyConfig,
    *,
    client: str = "",
    max_n: int | None = None,
    max_messages: int | None = None,
) -> ChatRequest:
    """Validate a chat completion body; errors are 400s naming the field (and the limit).

    Args:
        client: the client key's id; conversations are scoped to it (another client's
            conversation of the same name is another conversation).
        max_n: the largest ``n`` accepted; max_messages: the most messages accepted.
    """
    body = parse_json(raw)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        msg = "you must provide a model: 'ir3de' to route, or one of the experts' names"
        raise GatewayError(400, msg, param="model", code="missing_model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        msg = "'messages' is required: a non-empty list of {'role': ..., 'content': ...} objects"
        raise GatewayError(400, msg, param="messages", code="missing_messages")
    if max_messages is not None and len(messages) > max_messages:
        msg = (
            f"too many messages: {len(messages)} > {max_messages} ([server] max_messages); "
            "send a shorter conversation"
        )
        raise GatewayError(400, msg, param="messages", code="too_many_messages")
    n = body.get("n")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise GatewayError(400, f"'n' must be a positive integer, got {n!r}", param="n")
    if max_n is not None and n is not None and n > max_n:
        msg = f"'n' is {n}, more than this gateway allows: {max_n} ([server] max_n)"
        raise GatewayError(400, msg, param="n", code="n_too_large")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            msg = f"messages[{i}] must be an object with a string 'role'"
            raise GatewayError(400, msg, param=f"messages[{i}]")
    stream = body.get("stream", False)
    if not isinstance(stream, bool | None):
        raise GatewayError(400, "'stream' must be true or false", param="stream")
    return ChatRequest(
        body=body,
        model=model,
        stream=bool(stream),
        text=routed_text(messages),
        in_loop=in_tool_loop(messages),
        conversation=_scoped(client, _conversation(body, headers, sticky))
        if sticky.enabled
        else None,
    )


def _scoped(client: str, conversation: str | None) -> str | None:
    return None if conversation is None else f"{client}/{conversation}"


def routed_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The last user message's text, else the last message with text ("" when none has)."""
    for roles in (("user",), None):
        for message in reversed(messages):
            if roles is not None and message.get("role") not in roles:
                continue
            text = _content_text(message.get("content"))
            if text.strip():
                return text
    return ""


def in_tool_loop(messages: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the last assistant turn asked for tools and no user turn followed it."""
    for message in reversed(messages):
        role = message.get("role")
        if role == "user":
            return False
        if role == "assistant":
            return bool(message.get("tool_calls") or message.get("function_call"))
    return False


def _content_text(content: Any) -> str:
    """The text of a message's content: a string, or the ``text`` parts of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return "\n".join(p for p in parts if isinstance(p, str))
    return ""


def _conversation(
    body: Mapping[str, Any], headers: Mapping[str, str], sticky: StickyConfig
) -> str | None:
    key = headers.get(sticky.header)
    if key and key.strip():
        return key.strip()
    user = body.get("user")
    if sticky.user_field and isinstance(user, str) and user.strip():
        return f"user:{user.strip()}"
    return None
