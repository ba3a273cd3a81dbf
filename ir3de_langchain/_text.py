"""Taking the text to route from whatever a LangChain component receives."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage, convert_to_messages
from langchain_core.prompt_values import PromptValue

__all__ = ["RouteOn", "TextGetter", "input_text", "messages_text"]

RouteOn = Literal["last_human", "conversation"]
"""Which part of a conversation is routed: the last human message or every non-system message."""

TextGetter = Callable[[Any], str]
"""A function from a component's input to the text to route."""


def messages_text(messages: Sequence[BaseMessage], route_on: RouteOn = "last_human") -> str:
    """The text to route from a conversation.

    Args:
        messages: the conversation, oldest first.
        route_on: ``"last_human"`` routes on the last human message (falling back to the last
            message with text when there is none); ``"conversation"`` on every non-system message.
    """
    if route_on == "conversation":
        texts = [m.text for m in messages if not isinstance(m, SystemMessage) and m.text.strip()]
        return "\n".join(texts)
    for message in reversed(messages):
        if isinstance(message, HumanMessage) and message.text.strip():
            return message.text
    for message in reversed(messages):
        if message.text.strip():
            return message.text
    return ""


def input_text(
    value: Any,
    *,
    text_key: str | None = None,
    route_on: RouteOn = "last_human",
    getter: TextGetter | None = None,
) -> str:
    """The text to route from a runnable's input.

    Strings route as they are; messages, prompt values and a dict's ``"messages"`` entry route on
    their conversation (see `messages_text`); a dict routes on ``value[text_key]``, or on its only
    string value when `text_key` is None.

    Raises:
        ValueError: when no text can be found, or the text is empty; the message names the fix.
    """
    if getter is not None:
        text = getter(value)
    elif isinstance(value, Mapping):
        text = _mapping_text(value, text_key, route_on)
    else:
        text = _value_text(value, route_on)
    if not isinstance(text, str) or not text.strip():
        msg = f"found no text to route in {_describe(value)}; pass text_key= or get_text="
        raise ValueError(msg)
    return text


def _value_text(value: Any, route_on: RouteOn) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, PromptValue):
        return messages_text(value.to_messages(), route_on)
    if isinstance(value, BaseMessage):
        return value.text
    if isinstance(value, Sequence):
        try:
            messages = convert_to_messages(value)
        except (ValueError, TypeError, NotImplementedError) as e:
            msg = f"cannot read messages from {_describe(value)}: {e}; pass get_text="
            raise ValueError(msg) from e
        return messages_text(messages, route_on)
    msg = f"cannot route a {type(value).__name__}; pass get_text= to say which text to route"
    raise ValueError(msg)


def _mapping_text(value: Mapping[str, Any], text_key: str | None, route_on: RouteOn) -> str:
    if text_key is not None:
        if text_key not in value:
            msg = f"input has no key {text_key!r} (keys: {sorted(value)}); check text_key"
            raise ValueError(msg)
        return _value_text(value[text_key], route_on)
    if "messages" in value:
        return _value_text(value["messages"], route_on)
    strings = [v for v in value.values() if isinstance(v, str)]
    if len(strings) != 1:
        msg = f"input dict has keys {sorted(value)}; say which one to route with text_key="
        raise ValueError(msg)
    return strings[0]


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'…' if len(text) > 60 else ''}"
