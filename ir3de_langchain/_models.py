"""Experts given by name: ``"provider:model"`` strings become chat models with `init_chat_model`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from langchain.chat_models import init_chat_model

__all__ = ["chat_model_experts"]

M = TypeVar("M")


def chat_model_experts(experts: Mapping[str, M | str]) -> dict[str, M | Any]:
    """`experts` with every string built by `init_chat_model` (e.g. ``"openai:gpt-5-mini"``).

    Anything else is kept as it is (the callers check the types they accept).

    Raises:
        ValueError: when `init_chat_model` cannot tell the provider of a string (the message
            names the expert); ImportError when the provider's package is not installed.
    """
    out: dict[str, M | Any] = {}
    for name, model in experts.items():
        if not isinstance(model, str):
            out[name] = model
            continue
        try:
            out[name] = init_chat_model(model)
        except ValueError as e:
            msg = f"expert {name!r}: cannot build a chat model from {model!r}: {e}"
            raise ValueError(msg) from e
    return out
