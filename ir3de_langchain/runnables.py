"""`IR3DERunnable`: route each input to one of several runnables, with a trace of the decision."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.callbacks.manager import (
    AsyncCallbackManagerForChainRun,
    CallbackManagerForChainRun,
    adispatch_custom_event,
    dispatch_custom_event,
)
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config, get_config_list, merge_configs
from langchain_core.runnables.utils import (
    AddableDict,
    ConfigurableFieldSpec,
    get_unique_config_specs,
)
from pydantic import model_validator
from typing_extensions import Self

from ir3de_core.decision import RoutingDecision
from ir3de_core.fallback import acall_with_fallback, call_with_fallback
from ir3de_langchain._decision import ROUTE_EVENT, route_metadata, route_tags
from ir3de_langchain._grouped import BatchPlan, arun_plan, run_plan
from ir3de_langchain._routing import Routing
from ir3de_langchain._timeout import acall_with_timeout, call_with_timeout

__all__ = ["IR3DEDecider", "IR3DERunnable"]

FALLBACK_EVENT = "ir3de_fallback"


class IR3DEDecider(Routing[Any, RoutingDecision]):
    """Route only: input → `RoutingDecision`, e.g. to pick one of `configurable_alternatives`."""

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


class IR3DERunnable(Routing[Any, Any]):
    """Route each input to the best expert runnable and call it as a child run.

    The decision is in the run metadata (``ir3de_expert``, ``ir3de_scores``, ...) of this run and
    of the expert's run, whose tags include ``ir3de:<expert>``; it is dispatched as the custom
    event ``ir3de_route`` and, with ``return_decision=True``, returned as
    ``{"output": ..., "decision": RoutingDecision}``. An expert that raises (or exceeds `timeout`)
    falls back to the next-best expert by score, up to `max_attempts` experts in all.

    Example:
        .. code-block:: python

            chain = IR3DERunnable(router=router, experts={"code": coder, "math": solver})
            chain.invoke("integrate x^2 from 0 to 1")
    """

    experts: dict[str, Runnable[Any, Any]]
    """Expert name → the runnable that answers for it (a chat model, a chain, anything)."""
    max_attempts: int = 2
    """Experts tried per input, best first; 1 turns fallback off."""
    timeout: float | None = None
    """Seconds one expert may take before the next-best is tried (None: no limit)."""
    return_decision: bool = False
    """Return ``{"output": ..., "decision": RoutingDecision}`` instead of the bare output."""

    @model_validator(mode="after")
    def _check_experts(self) -> Self:
        missing = [e for e in self.router.experts_ if e not in self.experts]
        if missing:
            msg = f"the router routes to {missing} but experts has no runnable for them"
            raise ValueError(msg)
        if self.max_attempts < 1:
            msg = f"max_attempts must be ≥ 1, got {self.max_attempts}"
            raise ValueError(msg)
        if self.timeout is not None and self.timeout <= 0:
            msg = f"timeout must be > 0 seconds or None, got {self.timeout}"
            raise ValueError(msg)
        return self

    @property
    def config_specs(self) -> list[ConfigurableFieldSpec]:
        """The configurable fields of every expert."""
        return get_unique_config_specs(
            spec for expert in self.experts.values() for spec in expert.config_specs
        )

    def decide(self) -> IR3DEDecider:
        """A runnable that returns the decision only (same router and text settings)."""
        return IR3DEDecider(
            router=self.router, text_key=self.text_key, route_on=self.route_on,
            get_text=self.get_text,
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
        dispatch_custom_event(ROUTE_EVENT, decision.to_dict(), config=config)

        def call(expert: str) -> Any:
            child = self.experts[expert]
            child_config = self._child_config(config, decision, expert)
            return call_with_timeout(
                lambda: child.invoke(input, child_config, **kwargs), self.timeout, expert
            )

        output, used = call_with_fallback(
            decision, call, max_attempts=self.max_attempts, available=set(self.experts)
        )
        if used.fallback_from:
            dispatch_custom_event(FALLBACK_EVENT, used.to_dict(), config=config)
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
        await adispatch_custom_event(ROUTE_EVENT, decision.to_dict(), config=config)

        async def call(expert: str) -> Any:
            child = self.experts[expert]
            child_config = self._child_config(config, decision, expert)
            return await acall_with_timeout(
                lambda: child.ainvoke(input, child_config, **kwargs), self.timeout, expert
            )

        output, used = await acall_with_fallback(
            decision, call, max_attempts=self.max_attempts, available=set(self.experts)
        )
        if used.fallback_from:
            await adispatch_custom_event(FALLBACK_EVENT, used.to_dict(), config=config)
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

        Outputs come back in input order. Inputs whose expert failed are retried, grouped again,
        on their next-best expert; with ``return_exceptions=True`` an input that every attempted
        expert failed holds an `ExpertsFailedError` in its slot.
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
            configs = [
                self._child_config(config[slots[i]], plan.decisions[i], expert) for i in indices
            ]
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
            configs = [
                self._child_config(config[slots[i]], plan.decisions[i], expert) for i in indices
            ]
            child = self.experts[expert]
            return await acall_with_timeout(
                lambda: child.abatch(group, configs, return_exceptions=True, **kwargs),
                self.timeout, expert,
            )  # fmt: skip

        await arun_plan(plan, call)
        return self._collect(plan, slots, decisions)

    # ------------------------------------------------------------------ stream
    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any | None
    ) -> Iterator[Any]:
        """Pass the chosen expert's stream through; fallback happens before the first chunk."""
        decision = self.route(input)
        config = merge_configs(ensure_config(config), {"metadata": route_metadata(decision)})
        yield from self._transform_stream_with_config(
            iter([input]), self._transform, config, decision=decision, **kwargs
        )

    def transform(
        self, input: Iterator[Any], config: RunnableConfig | None = None, **kwargs: Any | None
    ) -> Iterator[Any]:
        """Collect the input, route it, then stream the chosen expert's output."""
        yield from self._transform_stream_with_config(input, self._transform, config, **kwargs)

    def _transform(
        self,
        chunks: Iterator[Any],
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
        *,
        decision: RoutingDecision | None = None,
        **kwargs: Any,
    ) -> Iterator[Any]:
        input = _collect(chunks)
        decision = decision or self.route(input)
        dispatch_custom_event(ROUTE_EVENT, decision.to_dict(), config=config)

        def start(expert: str) -> tuple[list[Any], Iterator[Any]]:
            child_config = self._child_config(config, decision, expert)
            iterator = iter(self.experts[expert].stream(input, child_config, **kwargs))
            return _first(iterator), iterator

        (first, rest), used = call_with_fallback(
            decision, start, max_attempts=self.max_attempts, available=set(self.experts)
        )
        if used.fallback_from:
            dispatch_custom_event(FALLBACK_EVENT, used.to_dict(), config=config)
        if self.return_decision:
            yield AddableDict(decision=used)
        for chunk in [*first, *rest]:
            yield AddableDict(output=chunk) if self.return_decision else chunk

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any | None
    ) -> AsyncIterator[Any]:
        """Async form of `stream`."""

        decision = self.route(input)
        config = merge_configs(ensure_config(config), {"metadata": route_metadata(decision)})

        async def single() -> AsyncIterator[Any]:
            yield input

        async for chunk in self._atransform_stream_with_config(
            single(), self._atransform, config, decision=decision, **kwargs
        ):
            yield chunk

    async def atransform(
        self, input: AsyncIterator[Any], config: RunnableConfig | None = None, **kwargs: Any | None
    ) -> AsyncIterator[Any]:
        """Async form of `transform`."""
        async for chunk in self._atransform_stream_with_config(
            input, self._atransform, config, **kwargs
        ):
            yield chunk

    async def _atransform(
        self,
        chunks: AsyncIterator[Any],
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        *,
        decision: RoutingDecision | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[Any]:
        input = _collect([chunk async for chunk in chunks])
        decision = decision or self.route(input)
        await adispatch_custom_event(ROUTE_EVENT, decision.to_dict(), config=config)

        async def start(expert: str) -> tuple[list[Any], AsyncIterator[Any]]:
            child_config = self._child_config(config, decision, expert)
            iterator = aiter(self.experts[expert].astream(input, child_config, **kwargs))
            try:
                return [await anext(iterator)], iterator
            except StopAsyncIteration:
                return [], iterator

        (first, rest), used = await acall_with_fallback(
            decision, start, max_attempts=self.max_attempts, available=set(self.experts)
        )
        if used.fallback_from:
            await adispatch_custom_event(FALLBACK_EVENT, used.to_dict(), config=config)
        if self.return_decision:
            yield AddableDict(decision=used)
        for chunk in first:
            yield AddableDict(output=chunk) if self.return_decision else chunk
        async for chunk in rest:
            yield AddableDict(output=chunk) if self.return_decision else chunk

    # ------------------------------------------------------------------ helpers
    def _child_config(
        self, config: RunnableConfig, decision: RoutingDecision, expert: str
    ) -> RunnableConfig:
        return merge_configs(
            config,
            {
                "tags": route_tags(expert),
                "metadata": {**route_metadata(decision), "ir3de_expert": expert},
            },
        )

    def _output(self, output: Any, decision: RoutingDecision) -> Any:
        return {"output": output, "decision": decision} if self.return_decision else output

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
        return BatchPlan(routed, self.max_attempts, set(self.experts)), slots

    def _collect(
        self, plan: BatchPlan, slots: list[int], decisions: list[RoutingDecision | Exception]
    ) -> list[Any]:
        outputs: list[Any] = list(decisions)  # unreadable inputs keep their ValueError
        for k, i in enumerate(slots):
            output, used = plan.result(k)
            outputs[i] = output if isinstance(output, Exception) else self._output(output, used)
        return outputs


def _first(iterator: Iterator[Any]) -> list[Any]:
    """The first chunk as a one-item list (empty when the stream is empty); raises what it raises."""
    for chunk in iterator:
        return [chunk]
    return []


def _collect(chunks: Iterator[Any] | list[Any]) -> Any:
    """The whole input from its chunks (usually one), added together as LangChain does."""
    total: Any = None
    for i, chunk in enumerate(chunks):
        total = chunk if i == 0 else total + chunk
    return total
