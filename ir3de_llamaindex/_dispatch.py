"""How `IR3DELLM` decides and calls: the policy chooses among the experts available for the call,
a thread keeps its expert unless the turn is confidently another's, a transient failure makes the
policy decide again without the failed expert, and the decision as it ended (the expert that
answered) is emitted and recorded."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.llms.llm import LLM

from ir3de_core import IR3DERouter, RoutingDecision, RoutingPolicy
from ir3de_core.decide.fallback import FailurePredicate, acall_with_fallback, call_with_fallback
from ir3de_llamaindex._conversation import Turn
from ir3de_llamaindex._llm_support import calls_tools
from ir3de_llamaindex.events import IR3DERoutingEvent

__all__ = ["Dispatcher", "emit"]

T = TypeVar("T")
dispatcher = get_dispatcher("ir3de_llamaindex.llms")


def emit(method: str, decision: RoutingDecision) -> dict[str, Any]:
    """Emit an `IR3DERoutingEvent` and return the decision as a dict (``to_dict()``)."""
    record = decision.to_dict()
    dispatcher.event(IR3DERoutingEvent(method=method, decision=record))
    return record


@dataclass(frozen=True)
class Dispatcher:
    """The routing of one `IR3DELLM` call.

    Attributes:
        router: the fitted router that scores the experts.
        experts: expert LLMs by router expert name.
        policy: decides, and decides again after a failure.
        max_attempts: experts tried per call.
        fallback_on: which exceptions move the call to another expert.
        switch_confidence: the confidence a turn needs to move a thread to another expert
            (None: every turn decides afresh).
    """

    router: IR3DERouter
    experts: Mapping[str, LLM]
    policy: RoutingPolicy
    max_attempts: int
    fallback_on: FailurePredicate
    switch_confidence: float | None = None

    def available(self, *, tools: bool = False) -> list[str]:
        """The experts a call may go to: those that can call tools when `tools` is true."""
        names = [n for n, llm in self.experts.items() if not tools or calls_tools(llm)]
        if not names:
            msg = "no expert can call tools; give IR3DELLM function-calling experts for tools"
            raise ValueError(msg)
        return names

    def decide(
        self, turn: Turn, *, tools: bool = False, pinned: str | None = None
    ) -> RoutingDecision:
        """The policy's decision for `turn` among the available experts: `pinned` is forced,
        else the thread's expert is kept (``sticky``) unless the turn is confidently another's."""
        available = self.available(tools=tools)
        decision = self.router.route(
            [turn.text], policy=self.policy, available=available, forced=pinned
        )[0]
        if pinned is not None:
            return decision
        return self.policy.keep(
            decision,
            turn.held,
            in_loop=turn.in_loop,
            available=available,
            switch_confidence=self.switch_confidence,
        )

    def call(
        self,
        method: str,
        turn: Turn,
        call: Callable[[LLM], T],
        *,
        tools: bool = False,
        pinned: str | None = None,
    ) -> tuple[T, dict[str, Any]]:
        """Decide, call the chosen expert (deciding again on a transient failure) and emit.

        Returns:
            the expert's result and the final decision as a dict.
        """
        decision = self.decide(turn, tools=tools, pinned=pinned)
        result, used = call_with_fallback(
            decision,
            lambda name: call(self.experts[name]),
            policy=self.policy,
            max_attempts=self.max_attempts,
            available=self._pool(tools, pinned),
            fallback_on=self.fallback_on,
        )
        return result, emit(method, used)

    async def acall(
        self,
        method: str,
        turn: Turn,
        call: Callable[[LLM], Awaitable[T]],
        *,
        tools: bool = False,
        pinned: str | None = None,
    ) -> tuple[T, dict[str, Any]]:
        """Async form of `call` (the router scores in a worker thread)."""
        decision = await asyncio.to_thread(self.decide, turn, tools=tools, pinned=pinned)
        result, used = await acall_with_fallback(
            decision,
            lambda name: call(self.experts[name]),
            policy=self.policy,
            max_attempts=self.max_attempts,
            available=self._pool(tools, pinned),
            fallback_on=self.fallback_on,
        )
        return result, emit(method, used)

    def _pool(self, tools: bool, pinned: str | None) -> list[str]:
        """The experts fallback may move to: none but the pinned one for a pinned request
        (it was prepared in that expert's own format)."""
        return [pinned] if pinned is not None else self.available(tools=tools)
