"""Calling the experts of a routing runnable: the check, child runs, fallback and events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, TypeVar

from langchain_core.callbacks.manager import adispatch_custom_event, dispatch_custom_event
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import merge_configs
from langchain_core.runnables.utils import ConfigurableFieldSpec, get_unique_config_specs
from pydantic import field_validator, model_validator
from typing_extensions import Self

from ir3de_core.decide.decision import RoutingDecision
from ir3de_core.decide.fallback import (
    FailurePredicate,
    acall_with_fallback,
    call_with_fallback,
    is_transient,
)
from ir3de_core.experts import check_experts
from ir3de_langchain._decision import ROUTE_EVENT, route_metadata, route_tags
from ir3de_langchain._models import chat_model_experts
from ir3de_langchain._routing import Routing

__all__ = ["FALLBACK_EVENT", "ExpertRouting"]

T = TypeVar("T")

FALLBACK_EVENT = "ir3de_fallback"
"""Name of the custom event dispatched when another expert answered after a failure."""


class ExpertRouting(Routing[Any, Any]):
    """A routing runnable with expert runnables to call (the base of `IR3DERunnable`)."""

    experts: dict[str, Runnable[Any, Any]]
    """Expert name → the runnable that answers for it (a chat model, a chain, anything, or a
    ``"provider:model"`` string for `init_chat_model`)."""
    max_attempts: int = 2
    """Experts tried per input, the chosen one first; 1 turns fallback off."""
    timeout: float | None = None
    """Seconds one expert may take before the policy decides again without it (None: no limit)."""
    fallback_on: FailurePredicate = is_transient
    """Which failures move an input to another expert (default: timeouts, connection errors,
    HTTP 429 and 5xx); any other exception propagates unchanged."""
    return_decision: bool = False
    """Return ``{"output": ..., "decision": RoutingDecision}`` instead of the bare output."""

    @field_validator("experts", mode="before")
    @classmethod
    def _build_named(cls, value: Any) -> Any:
        """``"provider:model"`` strings become chat models (`init_chat_model`)."""
        return chat_model_experts(value) if isinstance(value, Mapping) else value

    @model_validator(mode="after")
    def _check_experts(self) -> Self:
        check_experts(self.router, self.experts, what="runnable")
        if self.max_attempts < 1:
            msg = f"max_attempts must be ≥ 1, got {self.max_attempts}"
            raise ValueError(msg)
        if self.timeout is not None and self.timeout <= 0:
            msg = f"timeout must be > 0 seconds or None, got {self.timeout}"
            raise ValueError(msg)
        return self

    @property
    def available(self) -> Collection[str]:
        """The experts that may be chosen: those with a runnable."""
        return set(self.experts)

    @property
    def config_specs(self) -> list[ConfigurableFieldSpec]:
        """The configurable fields of every expert."""
        return get_unique_config_specs(
            spec for expert in self.experts.values() for spec in expert.config_specs
        )

    def _fallback(
        self, decision: RoutingDecision, call: Callable[[str], T], config: RunnableConfig
    ) -> tuple[T, RoutingDecision]:
        """Dispatch the route, call its expert (deciding again on failure) and say who answered."""
        dispatch_custom_event(ROUTE_EVENT, decision.to_dict(), config=config)
        result, used = call_with_fallback(
            decision, call, policy=self.active_policy, max_attempts=self.max_attempts,
            available=self.available, fallback_on=self.fallback_on,
        )  # fmt: skip
        if used.fallback_from:
            dispatch_custom_event(FALLBACK_EVENT, used.to_dict(), config=config)
        return result, used

    async def _afallback(
        self,
        decision: RoutingDecision,
        call: Callable[[str], Awaitable[T]],
        config: RunnableConfig,
    ) -> tuple[T, RoutingDecision]:
        """Async form of `_fallback`."""
        await adispatch_custom_event(ROUTE_EVENT, decision.to_dict(), config=config)
        result, used = await acall_with_fallback(
            decision, call, policy=self.active_policy, max_attempts=self.max_attempts,
            available=self.available, fallback_on=self.fallback_on,
        )  # fmt: skip
        if used.fallback_from:
            await adispatch_custom_event(FALLBACK_EVENT, used.to_dict(), config=config)
        return result, used

    def _child_config(
        self, config: RunnableConfig, decision: RoutingDecision, expert: str
    ) -> RunnableConfig:
        """The config of the expert's child run: the route in its tags and metadata."""
        return merge_configs(
            config,
            {
                "tags": route_tags(expert),
                "metadata": {**route_metadata(decision), "ir3de_expert": expert},
            },
        )

    def _output(self, output: Any, decision: RoutingDecision) -> Any:
        return {"output": output, "decision": decision} if self.return_decision else output
