"""`IR3DERunnable`: route each input to one of several runnables, with a trace of the decision."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks.manager import (
    AsyncCallbackManagerForChainRun,
    CallbackManagerForChainRun,
)
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config, get_config_list, merge_configs
from typing_extensions import Self

from ir3de_core.decide.decision import RoutingDecision
from ir3de_langchain._decision import route_metadata
from ir3de_langchain._grouped import BatchPlan, arun_plan, run_plan
from ir3de_langchain._routing import Routing
from ir3de_langchain._streaming import StreamingRouting
from ir3de_langchain._timeout import acall_with_timeout, call_with_timeout

__all__ = ["IR3DEDecider", "IR3DERunnable"]


class IR3DEDecider(Routing[Any, RoutingDecision]):
    """Route only: input → `RoutingDecision`, e.g. to pick one of `configurable_alternatives`.

    The decision is the policy's (`policy`, else the router's): its ``rule`` says why the expert
    was chosen (``best``, ``cost``, ``default``, ``unsure`` or ``forced``).
    """

    def invoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> RoutingDecision:
        """The decision for `input`."""
        return self._call_with_config(self.route, input, config, **kwargs)

    def batch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[RoutingDecision]:
        """Decisions for every input, scored in one pass."""
        return self._batch_with_config(
            self.route_many, inputs, config, return_exceptions=return_exceptions, **kwargs
        )


class IR3DERunnable(StreamingRouting):
    """Route each input to the expert runnable the policy chooses and call it as a child run.

    The policy (`policy`, else the router's `policy_`) decides: the best expert, quality − λ·cost
    when it prices the experts, the default expert below its threshold, or the `forced` one.
    The decision is in the run metadata (``ir3de_expert``, ``ir3de_rule``, ``ir3de_scores``, ...)
    of this run and of the expert's run, whose tags include ``ir3de:<expert>``; it is dispatched
    as the custom event ``ir3de_route`` and, with ``return_decision=True``, returned as
    ``{"output": ..., "decision": RoutingDecision}``. An expert that fails transiently (see
    `fallback_on`; exceeding `timeout` counts) makes the policy decide again without it, up to
    `max_attempts` experts in all.

    Example:
        .. code-block:: python

            chain = IR3DERunnable(router=router, experts={"code": coder, "math": solver})
            chain.invoke("integrate x^2 from 0 to 1")
    """

    def decide(self) -> IR3DEDecider:
        """A runnable that returns the decision only (same router, policy and text settings)."""
        return IR3DEDecider(
            router=self.router, policy=self.policy, forced=self.forced, text_key=self.text_key,
            route_on=self.route_on, get_text=self.get_text,
        )  # fmt: skip

    def add_expert(self, name: str, runnable: Runnable[Any, Any], prompts: Sequence[str]) -> Self:
        """Add an expert from example prompts of its own, without refitting the others."""
        self.router.add_expert(name, prompts)
        self.experts[name] = runnable
        return self

    # ------------------------------------------------------------------ invoke
    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Route `input`, call the chosen expert (falling back on failure) and return its output."""
        decision = self.route(input)
        config = merge_configs(ensure_config(config), {"metadata": route_metadata(decision)})
        return self._call_with_config(self._invoke, input, config, decision=decision, **kwargs)

    def _invoke(
        self,
        input: Any,
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
        *,
        decision: RoutingDecision | None = None,
        **kwargs: Any,
    ) -> Any:
        decision = decision or self.route(input)

        def call(expert: str) -> Any:
            child = self.experts[expert]
            child_config = self._child_config(config, decision, expert)
            return call_with_timeout(
                lambda: child.invoke(input, child_config, **kwargs), self.timeout, expert
            )

        output, used = self._fallback(decision, call, config)
        return self._output(output, used)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Async form of `invoke` (the expert is awaited and cancelled on timeout)."""
        decision = self.route(input)
        config = merge_configs(ensure_config(config), {"metadata": route_metadata(decision)})
        return await self._acall_with_config(
            self._ainvoke, input, config, decision=decision, **kwargs
        )

    async def _ainvoke(
        self,
        input: Any,
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        *,
        decision: RoutingDecision | None = None,
        **kwargs: Any,
    ) -> Any:
        decision = decision or self.route(input)

        async def call(expert: str) -> Any:
            child = self.experts[expert]
            child_config = self._child_config(config, decision, expert)
            return await acall_with_timeout(
                lambda: child.ainvoke(input, child_config, **kwargs), self.timeout, expert
            )

        output, used = await self._afallback(decision, call, config)
        return self._output(output, used)

    # ------------------------------------------------------------------ batch
    def batch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        """Score every input in one pass, then call each expert's `batch` once on its inputs.

        Outputs come back in input order. An input whose expert failed transiently is decided
        again by the policy without that expert and retried, grouped again, on the new choice;
        with ``return_exceptions=True`` an input that every attempted expert failed holds an
        `ExpertsFailedError` in its slot, and one that failed otherwise its own exception.
        """
        if not inputs:
            return []
        decisions = self.route_many(inputs)
        configs = self._routed_configs(decisions, config)
        return self._batch_with_config(
            self._batch, inputs, configs, return_exceptions=return_exceptions,
            decisions=decisions, **kwargs,
        )  # fmt: skip

    def _batch(
        self,
        inputs: list[Any],
        run_manager: list[CallbackManagerForChainRun],
        config: list[RunnableConfig],
        *,
        decisions: list[RoutingDecision | Exception] | None = None,
        **kwargs: Any,
    ) -> list[Any]:
        decisions = decisions or self.route_many(inputs)
        plan, slots = self._plan(decisions)

        def call(expert: str, indices: list[int]) -> list[Any]:
            group = [inputs[slots[i]] for i in indices]
            configs = [self._child_config(config[slots[i]], _at(plan, i), expert) for i in indices]
            child = self.experts[expert]
            return call_with_timeout(
                lambda: child.batch(group, configs, return_exceptions=True, **kwargs),
                self.timeout, expert,
            )  # fmt: skip

        run_plan(plan, call, config[0] if config else {})
        return self._collect(plan, slots, decisions)

    async def abatch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        """Async form of `batch`: the experts' `abatch` calls run concurrently."""
        if not inputs:
            return []
        decisions = self.route_many(inputs)
        configs = self._routed_configs(decisions, config)
        return await self._abatch_with_config(
            self._abatch, inputs, configs, return_exceptions=return_exceptions,
            decisions=decisions, **kwargs,
        )  # fmt: skip

    async def _abatch(
        self,
        inputs: list[Any],
        run_manager: list[AsyncCallbackManagerForChainRun],
        config: list[RunnableConfig],
        *,
        decisions: list[RoutingDecision | Exception] | None = None,
        **kwargs: Any,
    ) -> list[Any]:
        decisions = decisions or self.route_many(inputs)
        plan, slots = self._plan(decisions)

        async def call(expert: str, indices: list[int]) -> list[Any]:
            group = [inputs[slots[i]] for i in indices]
            configs = [self._child_config(config[slots[i]], _at(plan, i), expert) for i in indices]
            child = self.experts[expert]
            return await acall_with_timeout(
                lambda: child.abatch(group, configs, return_exceptions=True, **kwargs),
                self.timeout, expert,
            )  # fmt: skip

        await arun_plan(plan, call)
        return self._collect(plan, slots, decisions)

    # ------------------------------------------------------------------ helpers
    def _routed_configs(
        self,
        decisions: list[RoutingDecision | Exception],
        config: RunnableConfig | list[RunnableConfig] | None,
    ) -> list[RunnableConfig]:
        configs = get_config_list(config, len(decisions))
        return [
            c if isinstance(d, Exception) else merge_configs(c, {"metadata": route_metadata(d)})
            for c, d in zip(configs, decisions, strict=True)
        ]

    def _plan(self, decisions: list[RoutingDecision | Exception]) -> tuple[BatchPlan, list[int]]:
        """A plan over the routable inputs and, for each of its entries, the input's index."""
        slots = [i for i, d in enumerate(decisions) if not isinstance(d, Exception)]
        routed = [d for d in decisions if not isinstance(d, Exception)]
        plan = BatchPlan(
            routed, policy=self.active_policy, max_attempts=self.max_attempts,
            available=self.available, fallback_on=self.fallback_on,
        )  # fmt: skip
        return plan, slots

    def _collect(
        self, plan: BatchPlan, slots: list[int], decisions: list[RoutingDecision | Exception]
    ) -> list[Any]:
        outputs: list[Any] = list(decisions)  # unreadable inputs keep their ValueError
        for k, i in enumerate(slots):
            output, used = plan.result(k)
            outputs[i] = output if isinstance(output, Exception) else self._output(output, used)
        return outputs


def _at(plan: BatchPlan, i: int) -> RoutingDecision:
    """The decision input i of `plan` is being answered under (its current one)."""
    return plan.current[i] or plan.decisions[i]
