"""Structured output through `ChatIR3DE`: each expert's own method, with the router's settings."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from ir3de_core.decide.decision import RoutingDecision
from ir3de_langchain._chat_parts import routed_message
from ir3de_langchain.runnables import IR3DERunnable

__all__ = ["StructuredRouting", "with_settings"]

#: Where chat models keep each standard setting, by field name (aliases are not field names).
_FIELDS: dict[str, tuple[str, ...]] = {
    "temperature": ("temperature",),
    "max_tokens": ("max_tokens", "max_output_tokens", "max_completion_tokens", "num_predict"),
    "stop": ("stop", "stop_sequences"),
}


def with_settings(name: str, model: BaseChatModel, settings: Mapping[str, Any]) -> BaseChatModel:
    """A copy of expert `name`'s `model` whose own fields hold `settings` (None: left alone).

    `with_structured_output` of a provider builds its runnable from the model itself, so call
    arguments cannot reach it; the settings must be the model's own. A setting the model has no
    field for is left out with a warning that names it.

    Args:
        name: the expert (for the warning).
        model: its chat model.
        settings: ``temperature``, ``max_tokens`` and ``stop``, each None to keep the model's.
    """
    fields = type(model).model_fields
    update: dict[str, Any] = {}
    for setting, value in settings.items():
        if value is None:
            continue
        field = next((f for f in _FIELDS.get(setting, (setting,)) if f in fields), None)
        if field is None:
            warnings.warn(
                f"expert {name!r} ({type(model).__name__}) has no field for {setting}; its "
                f"structured output keeps its own setting",
                stacklevel=3,
            )
            continue
        update[field] = value
    return model.model_copy(update=update) if update else model


class StructuredRouting(IR3DERunnable):
    """`ChatIR3DE.with_structured_output`: each expert's own structured output, routed.

    With ``include_raw=True`` the ``raw`` message carries the route as `ChatIR3DE`'s answers
    do: ``response_metadata["model_name"]`` is the expert and ``["ir3de"]`` the decision.
    """

    def _output(self, output: Any, decision: RoutingDecision) -> Any:
        if isinstance(output, dict) and isinstance(output.get("raw"), BaseMessage):
            output = {**output, "raw": routed_message(output["raw"], decision)}
        return super()._output(output, decision)
