"""The shared base of the routing runnables: a router, its policy and how to read the text."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, TypeVar

from langchain_core.runnables import RunnableSerializable
from pydantic import ConfigDict, model_validator
from typing_extensions import Self

from ir3de_core.decide.decision import RoutingDecision
from ir3de_core.decide.policy import RoutingPolicy
from ir3de_core.router import IR3DERouter
from ir3de_langchain._text import RouteOn, TextGetter, input_text

__all__ = ["Routing"]

Input = TypeVar("Input")
Output = TypeVar("Output")


class Routing(RunnableSerializable[Input, Output]):
    """The router, the policy that decides and how the text to route is read from an input."""

    router: IR3DERouter
    """The fitted router."""
    policy: RoutingPolicy | None = None
    """How scores become a decision (prices and λ, threshold and default); None: the router's
    own `router.policy_`."""
    forced: str | None = None
    """Send every input to this expert (rule ``forced``); make it per call with
    ``configurable_fields(forced=ConfigurableField(id="expert"))``."""
    text_key: str | None = None
    """Key of the text to route when the input is a dict (None: its ``messages`` or only string)."""
    route_on: RouteOn = "last_human"
    """Route a conversation on its last human message or on every non-system message."""
    get_text: TextGetter | None = None
    """A function from the input to the text to route; overrides `text_key` and `route_on`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    @model_validator(mode="after")
    def _check_forced(self) -> Self:
        if self.forced is not None and self.forced not in self.router.experts_:
            msg = f"forced={self.forced!r} is not an expert; choose one of {self.router.experts_}"
            raise ValueError(msg)
        return self

    @property
    def active_policy(self) -> RoutingPolicy:
        """The policy decisions are made with: `policy`, else the router's `policy_`."""
        return self.policy if self.policy is not None else self.router.policy_

    @property
    def available(self) -> Collection[str] | None:
        """The experts that may be chosen (None: every expert of the router)."""
        return None

    def text(self, value: Any) -> str:
        """The text routed for `value`."""
        return input_text(
            value, text_key=self.text_key, route_on=self.route_on, getter=self.get_text
        )

    def route(self, value: Any, *, forced: str | None = None) -> RoutingDecision:
        """The policy's decision for one input, without calling anything.

        Args:
            value: the input.
            forced: send it to this expert (rule ``forced``); default: the `forced` field.
        """
        return self._decide([self.text(value)], forced)[0]

    def route_many(
        self, values: Sequence[Any], *, forced: str | None = None
    ) -> list[RoutingDecision | Exception]:
        """Decisions for many inputs in one scoring pass; an unreadable input gets its error."""
        texts: list[str | Exception] = []
        for value in values:
            try:
                texts.append(self.text(value))
            except ValueError as e:
                texts.append(e)
        readable = [t for t in texts if isinstance(t, str)]
        decisions = iter(self._decide(readable, forced) if readable else [])
        return [t if isinstance(t, Exception) else next(decisions) for t in texts]

    def _decide(self, texts: list[str], forced: str | None) -> list[RoutingDecision]:
        return self.router.route(
            texts,
            policy=self.active_policy,
            available=self.available,
            forced=forced if forced is not None else self.forced,
        )
