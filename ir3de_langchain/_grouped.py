"""Grouped batches: each expert's `batch` called once per round, failures decided again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Coroutine, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import get_executor_for_config

from ir3de_core.decide.decision import RoutingDecision
from ir3de_core.decide.fallback import (
    ExpertsFailedError,
    FailurePredicate,
    is_transient,
    next_decision,
)
from ir3de_core.decide.policy import RoutingPolicy

__all__ = ["BatchPlan", "arun_plan", "run_plan"]

logger = logging.getLogger("ir3de")

GroupCall = Callable[[str, list[int]], list[Any]]
AsyncGroupCall = Callable[[str, list[int]], Coroutine[Any, Any, list[Any]]]


class BatchPlan:
    """Which expert each pending input goes to, round by round.

    Each round sends every pending input to the expert of its current decision. An input whose
    expert fails with an error `fallback_on` accepts is decided again by the policy without the
    experts that failed it (`next_decision`), up to `max_attempts` experts; any other error is
    the input's result unchanged. An input out of experts ends as an `ExpertsFailedError`.
    """

    def __init__(
        self,
        decisions: Sequence[RoutingDecision],
        *,
        policy: RoutingPolicy,
        max_attempts: int,
        available: Collection[str] | None = None,
        fallback_on: FailurePredicate = is_transient,
    ) -> None:
        self.decisions = list(decisions)
        self.current: list[RoutingDecision | None] = list(decisions)
        self.errors: list[dict[str, BaseException]] = [{} for _ in decisions]
        self.outputs: dict[int, Any] = {}
        self.policy = policy
        self.max_attempts = max(1, max_attempts)
        self.available = available
        self.fallback_on = fallback_on

    def next_round(self) -> dict[str, list[int]]:
        """Expert → indices of the inputs it answers in the next round (empty when done)."""
        groups: dict[str, list[int]] = {}
        for i, decision in enumerate(self.current):
            if i not in self.outputs and decision is not None:
                groups.setdefault(decision.expert, []).append(i)
        return groups

    def record(self, expert: str, indices: list[int], outputs: Sequence[Any]) -> None:
        """Keep each answer; a failure `fallback_on` accepts moves its input to the next expert."""
        failed = 0
        for i, output in zip(indices, outputs, strict=True):
            if not isinstance(output, Exception):
                self.outputs[i] = output
            elif not self.fallback_on(output):
                self.outputs[i] = output  # not a passing failure: the input's result, unchanged
                failed += 1
            else:
                self.errors[i][expert] = output
                self.current[i] = self._next(i)
                failed += 1
        if failed:
            logger.warning("expert %r failed on %d of %d inputs", expert, failed, len(indices))

    def result(self, i: int) -> tuple[Any, RoutingDecision]:
        """The answer (or exception) of input i and the decision as it ended.

        The decision's expert is the one that answered; its ``fallback_from`` lists the experts
        that failed before it.
        """
        current = self.current[i]
        if i not in self.outputs or current is None:
            return ExpertsFailedError(self.errors[i]), self.decisions[i]
        return self.outputs[i], current

    def _next(self, i: int) -> RoutingDecision | None:
        if len(self.errors[i]) >= self.max_attempts:
            return None
        return next_decision(self.decisions[i], self.errors[i], self.policy, self.available)


def _guarded(call: GroupCall, expert: str, indices: list[int]) -> list[Any]:
    try:
        return call(expert, indices)
    except Exception as e:  # a failing batch fails each of its inputs
        return [e] * len(indices)


def run_plan(plan: BatchPlan, call: GroupCall, config: RunnableConfig) -> None:
    """Run rounds until every input is answered or out of experts; groups run concurrently."""
    while groups := plan.next_round():
        with get_executor_for_config(config) as executor:
            futures = {e: executor.submit(_guarded, call, e, idx) for e, idx in groups.items()}
            for expert, future in futures.items():
                plan.record(expert, groups[expert], future.result())


async def _aguarded(call: AsyncGroupCall, expert: str, indices: list[int]) -> list[Any]:
    try:
        return await call(expert, indices)
    except Exception as e:
        return [e] * len(indices)


async def arun_plan(plan: BatchPlan, call: AsyncGroupCall) -> None:
    """Async form of `run_plan`."""
    while groups := plan.next_round():
        results = await asyncio.gather(*(_aguarded(call, e, idx) for e, idx in groups.items()))
        for (expert, indices), outputs in zip(groups.items(), results, strict=True):
            plan.record(expert, indices, outputs)
