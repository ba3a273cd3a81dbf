"""The shared base of the routing runnables: a router and how to read the text to route."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from langchain_core.runnables import RunnableSerializable
from pydantic import ConfigDict

from ir3de_core.decision import RoutingDecision
from ir3de_core.router import IR3DERouter
from ir3de_langchain._text import RouteOn, TextGetter, input_text

__all__ = ["Routing"]

Input = TypeVar("Input")
Output = TypeVar("Output")


class Routing(RunnableSerializable[Input, Output]):
    """The router and how the text to route is read from an input (shared by both runnables)."""

    router: IR3DERouter
    """The fitted router."""
    text_key: str | None = None
    """Key of the text to route when the input is a dict (None: its ``messages`` or only string)."""
    route_on: RouteOn = "last_human"
    """Route a conversation on its last human message or on every non-system message."""
    get_text: TextGetter | None = None
    """A function from the input to the text to route; overrides `text_key` and `route_on`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    def text(self, value: Any) -> str:
        """The text routed for `value`."""
        return input_text(
            value, text_key=self.text_key, route_on=self.route_on, getter=self.get_text
        )

    def route(self, value: Any) -> RoutingDecision:
        """The decision for one input, without calling anything."""
        return self.router.route([self.text(value)])[0]

    def route_many(self, values: Sequence[Any]) -> list[RoutingDecision | Exception]:
        """Decisions for many inputs in one scoring pass; an unreadable input gets its error."""
        texts: list[str | Exception] = []
        for value in values:
            try:
                texts.append(self.text(value))
            except ValueError as e:
                texts.append(e)
        readable = [t for t in texts if isinstance(t, str)]
        decisions = iter(self.router.route(readable) if readable else [])
        return [t if isinstance(t, Exception) else next(decisions) for t in texts]
