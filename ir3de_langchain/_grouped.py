"""Grouped batches: each expert's `batch` called once per round, failures retried on the next-best."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import get_executor_for_config

from ir3de_core.decision import RoutingDecision
from ir3de_core.fallback import ExpertsFailedError, answered_by, attempt_order

__all__ = ["BatchPlan", "arun_plan", "run_plan"]

logger = logging.getLogger("ir3de")

GroupCall = Callable[[str, list[int]], list[Any]]
AsyncGroupCall = Callable[[str, list[int]], Coroutine[Any, Any, list[Any]]]


class BatchPlan:
    """Which expert each pending input goes to, round by round.

    Round r sends every unanswered input to the r-th expert of its `attempt_order`; an input whose
    every attempted expert failed ends as an `ExpertsFailedError` naming each failure.
    """

    def __init__(
        self, decisions: Sequence[RoutingDecision], max_attempts: int, available: set[str]
    ) -> None:
        self.decisions = list(decisions)
        self.orders = [attempt_order(d, max_attempts, available) for d in decisions]
        self.errors: list[dict[str, BaseException]] = [{} for _ in decisions]
        self.outputs: dict[int, Any] = {}

    def next_round(self) -> dict[str, list[int]]:
        """Expert → indices of the inputs it answers in the next round (empty when done)."""
        groups: dict[str, list[int]] = {}
        for i, order in enumerate(self.orders):
            tried = len(self.errors[i])
            if i not in self.outputs and tried < len(order):
                groups.setdefault(order[tried], []).append(i)
        return groups

    def record(self, expert: str, indices: list[int], outputs: Sequence[Any]) -> None:
        """Keep each answer; an exception sends its input to the next-best expert."""
        failed = 0
        for i, output in zip(indices, outputs, strict=True):
            if isinstance(output, Exception):
                self.errors[i][expert] = output
                failed += 1
            else:
                self.outputs[i] = output
        if failed:
            logger.warning("expert %r failed on %d of %d inputs", expert, failed, len(indices))

    def result(self, i: int) -> tuple[Any, RoutingDecision]:
        """The answer (or `ExpertsFailedError`) of input i and the decision actually used."""
        if i not in self.outputs:
            return ExpertsFailedError(self.errors[i]), self.decisions[i]
        decision = self.decisions[i]
        if self.errors[i]:
            expert = self.orders[i][len(self.errors[i])]
            decision = answered_by(decision, expert, self.errors[i])
        return self.outputs[i], decision


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
