"""Fallback in `IR3DERunnable`: only failures `fallback_on` accepts move, the policy decides again."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from langchain_core.runnables import RunnableLambda

from ir3de_core import IR3DERouter
from ir3de_core.decide.fallback import ExpertsFailedError, is_transient
from ir3de_langchain import IR3DERunnable
from ir3de_langchain._timeout import ExpertTimeoutError
from tests.langchain.test_runnables import echo, fail


def flaky(error: type[Exception]) -> RunnableLambda[Any, str]:
    """A coder that fails on the input ending in ``#4`` with `error`."""

    def answer(x: str) -> str:
        if x.endswith("#4"):
            msg = "boom on #4"
            raise error(msg)
        return f"coder: {x}"

    return RunnableLambda(answer)


def test_batch_return_exceptions_keeps_the_failing_slot(router: IR3DERouter) -> None:
    experts = {"coder": flaky(ConnectionError), "mathematician": echo("m"), "poet": echo("p")}
    chain = IR3DERunnable(router=router, experts=experts, max_attempts=1)
    inputs = [f"fix this python function #{i}" for i in range(6)]
    outputs = chain.batch(inputs, return_exceptions=True)
    assert outputs[:4] == [f"coder: {x}" for x in inputs[:4]]
    assert outputs[5] == f"coder: {inputs[5]}"
    assert isinstance(outputs[4], ExpertsFailedError)
    assert "boom on #4" in str(outputs[4].errors["coder"])
    with pytest.raises(ExpertsFailedError, match="boom on #4"):
        chain.batch(inputs)


def test_batch_does_not_retry_a_non_transient_failure(router: IR3DERouter) -> None:
    experts = {"coder": flaky(ValueError), "mathematician": echo("m"), "poet": echo("p")}
    chain = IR3DERunnable(router=router, experts=experts, max_attempts=3)
    inputs = [f"fix this python function #{i}" for i in range(6)]
    outputs = chain.batch(inputs, return_exceptions=True)
    assert type(outputs[4]) is ValueError  # the expert's own error, unchanged, not retried
    assert str(outputs[4]) == "boom on #4"
    assert [o for i, o in enumerate(outputs) if i != 4] == [
        f"coder: {x}" for i, x in enumerate(inputs) if i != 4
    ]
    with pytest.raises(ValueError, match="boom on #4"):
        chain.batch(inputs)


def test_batch_falls_back_per_input_and_records_it(router: IR3DERouter) -> None:
    experts = {"coder": RunnableLambda(fail), "mathematician": echo("m"), "poet": echo("p")}
    chain = IR3DERunnable(router=router, experts=experts, return_decision=True)
    inputs = ["fix this python function", "write a poem about the moon"]
    first, second = chain.batch(inputs)
    assert first["decision"].fallback_from == ("coder",)
    assert first["decision"].expert == first["decision"].ranking()[0] != "coder"
    assert first["output"].endswith(inputs[0])
    assert second["output"] == "p: write a poem about the moon"
    assert second["decision"].expert == "poet"
    assert second["decision"].scores == pytest.approx(chain.route(inputs[1]).scores)


def test_invoke_falls_back_to_the_next_best_expert(router: IR3DERouter) -> None:
    experts = {"coder": RunnableLambda(fail), "mathematician": echo("m"), "poet": echo("p")}
    chain = IR3DERunnable(router=router, experts=experts, return_decision=True)
    prompt = "fix this python function"
    runner_up = chain.route(prompt).ranking()[1]
    out = chain.invoke(prompt)
    assert out["output"] == f"{runner_up[0]}: {prompt}"
    assert out["decision"].expert == runner_up
    assert out["decision"].fallback_from == ("coder",)
    only_one = chain.model_copy(update={"max_attempts": 1})
    with pytest.raises(ExpertsFailedError, match="expert down"):
        only_one.invoke(prompt)


def test_a_non_transient_error_is_not_retried_on_another_expert(router: IR3DERouter) -> None:
    calls: list[str] = []

    def rejects(x: str) -> str:
        calls.append("coder")
        msg = "prompt too long for this expert"
        raise ValueError(msg)

    def answers(x: str) -> str:
        calls.append("mathematician")
        return f"m: {x}"

    experts = {"coder": RunnableLambda(rejects), "mathematician": RunnableLambda(answers)}
    chain = IR3DERunnable(router=router, experts={**experts, "poet": echo("p")}, max_attempts=3)
    with pytest.raises(ValueError, match="prompt too long"):
        chain.invoke("fix this python function")
    with pytest.raises(ValueError, match="prompt too long"):
        list(chain.stream("fix this python function"))
    assert calls == ["coder", "coder"]
    lenient = chain.model_copy(update={"fallback_on": lambda e: isinstance(e, ValueError)})
    assert lenient.invoke("fix this python function") == "m: fix this python function"
    down = {**chain.experts, "coder": RunnableLambda(fail)}
    strict = chain.model_copy(update={"experts": down, "fallback_on": lambda e: False})
    with pytest.raises(ConnectionError, match="expert down"):
        strict.invoke("fix this python function")


async def test_async_fallback_on_is_configurable(router: IR3DERouter) -> None:
    experts = {"coder": RunnableLambda(fail), "mathematician": echo("m"), "poet": echo("p")}
    chain = IR3DERunnable(router=router, experts=experts, fallback_on=lambda e: False)
    with pytest.raises(ConnectionError, match="expert down"):
        await chain.ainvoke("fix this python function")
    with pytest.raises(ConnectionError, match="expert down"):
        await chain.abatch(["fix this python function"])
    default = chain.model_copy(update={"fallback_on": is_transient})
    assert await default.ainvoke("fix this python function") == "m: fix this python function"


def test_timeout_falls_back(router: IR3DERouter) -> None:
    def slow(x: str) -> str:
        time.sleep(1.0)
        return "late"

    experts = {"coder": RunnableLambda(slow), "mathematician": echo("m"), "poet": echo("p")}
    chain = IR3DERunnable(router=router, experts=experts, timeout=0.2, return_decision=True)
    start = time.monotonic()
    out = chain.invoke("fix this python function")
    assert time.monotonic() - start < 0.9
    assert out["decision"].fallback_from == ("coder",)
    with pytest.raises(ExpertsFailedError) as info:
        chain.model_copy(update={"max_attempts": 1}).invoke("fix this python function")
    error = info.value.errors["coder"]
    assert isinstance(error, ExpertTimeoutError)
    assert isinstance(error, TimeoutError)
    assert is_transient(error)


async def test_async_timeout_cancels_and_falls_back(router: IR3DERouter) -> None:
    async def slow(x: str) -> str:
        await asyncio.sleep(5)
        return "late"

    experts = {"coder": RunnableLambda(slow), "mathematician": echo("m"), "poet": echo("p")}
    chain = IR3DERunnable(router=router, experts=experts, timeout=0.1, return_decision=True)
    out = await chain.ainvoke("fix this python function")
    assert out["decision"].fallback_from == ("coder",)


async def test_astream_falls_back_before_the_first_chunk(router: IR3DERouter) -> None:
    async def words(x: str) -> Any:
        for w in x.split():
            yield w

    experts = {"coder": RunnableLambda(fail), "mathematician": echo("m"), "poet": echo("p")}
    experts[chain_runner_up(router, "fix this python function")] = RunnableLambda(words)
    chain = IR3DERunnable(router=router, experts=experts, return_decision=True)
    chunks = [c async for c in chain.astream("fix this python function")]
    assert chunks[0]["decision"].fallback_from == ("coder",)
    assert [c["output"] for c in chunks[1:]] == ["fix", "this", "python", "function"]


def chain_runner_up(router: IR3DERouter, prompt: str) -> str:
    return router.route([prompt])[0].ranking()[1]
