"""`IR3DERunnable`: routing, grouped batch, streaming, async and tracing (fallback: test_fallback)."""

from __future__ import annotations

import asyncio
from typing import Any
from unittest import mock
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import FakeListChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import ConfigurableField, RunnableLambda

from ir3de_core import ExpertError, IR3DERouter, RoutingDecision
from ir3de_langchain import IR3DEDecider, IR3DERunnable
from tests.langchain.conftest import PROMPTS, make_router

EXPERTS = ("coder", "mathematician", "poet")


def echo(name: str) -> RunnableLambda[Any, str]:
    """An expert that answers ``"<name>: <input>"``."""
    return RunnableLambda(lambda x: f"{name}: {x}", name=name)


def reply(name: str) -> FakeListChatModel:
    """A LangChain fake chat model that always answers ``"<name> says hi"``."""
    return FakeListChatModel(responses=[f"{name} says hi"])


def fail(x: Any) -> str:
    msg = f"expert down for {x!r}"
    raise ConnectionError(msg)


class Recorder(BaseCallbackHandler):
    """Keeps every run's name, tags and metadata, and the custom events."""

    def __init__(self) -> None:
        self.runs: dict[str, dict[str, Any]] = {}
        self.events: list[tuple[str, Any]] = []

    def on_chain_start(
        self, serialized: Any, inputs: Any, *, run_id: UUID, tags: Any = None,
        metadata: Any = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        self.runs[str(run_id)] = {"name": kwargs.get("name"), "tags": tags, "metadata": metadata}

    def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
        self.events.append((name, data))

    def by_name(self, name: str) -> dict[str, Any]:
        return next(r for r in self.runs.values() if r["name"] == name)


@pytest.fixture
def chain(router: IR3DERouter) -> IR3DERunnable:
    return IR3DERunnable(router=router, experts={e: echo(e) for e in EXPERTS})


def test_invoke_routes_to_the_expert_of_each_prompt(chain: IR3DERunnable) -> None:
    for expert, prompts in PROMPTS.items():
        for prompt in prompts:
            assert chain.invoke(prompt) == f"{expert}: {prompt}"


def test_return_decision_gives_the_decision_with_the_output(router: IR3DERouter) -> None:
    chain = IR3DERunnable(
        router=router, experts={e: echo(e) for e in EXPERTS}, return_decision=True
    )
    out = chain.invoke("write a poem about the moon")
    assert out["output"] == "poet: write a poem about the moon"
    decision = out["decision"]
    assert isinstance(decision, RoutingDecision)
    assert decision.expert == "poet"
    assert set(decision.scores) == set(EXPERTS)
    assert decision.confidence > 0.9
    assert decision.fallback_from == ()


def test_messages_prompt_values_and_dicts_route_on_their_text(chain: IR3DERunnable) -> None:
    messages = [
        SystemMessage("you are helpful"),
        HumanMessage("write a poem about the moon"),
        AIMessage("the moon is round"),
        HumanMessage("fix this python function"),
    ]
    assert chain.route(messages).expert == "coder"  # last human message
    conversation = chain.model_copy(update={"route_on": "conversation"})
    assert conversation.text(messages).splitlines()[0] == "write a poem about the moon"
    prompt = ChatPromptTemplate.from_messages([("human", "solve the integral of {f}")])
    assert chain.route(prompt.invoke({"f": "x"})).expert == "mathematician"
    assert chain.route({"messages": messages}).expert == "coder"
    assert chain.route({"question": "a sonnet about the sea", "n": 3}).expert == "poet"
    keyed = chain.model_copy(update={"text_key": "q"})
    assert keyed.route({"q": "solve the integral of x", "ctx": "write a poem"}).expert == (
        "mathematician"
    )
    custom = chain.model_copy(update={"get_text": lambda x: x["doc"]["title"]})
    assert custom.route({"doc": {"title": "write a haiku about the moon"}}).expert == "poet"


def test_unreadable_input_says_how_to_fix_it(chain: IR3DERunnable) -> None:
    with pytest.raises(ValueError, match="text_key"):
        chain.invoke({"a": "write a poem", "b": "fix python"})
    with pytest.raises(ValueError, match="check text_key"):
        chain.model_copy(update={"text_key": "q"}).invoke({"a": "x"})
    with pytest.raises(ValueError, match="no text to route"):
        chain.invoke("   ")


def test_construction_checks_one_runnable_per_routed_expert(router: IR3DERouter) -> None:
    with pytest.raises(ExpertError, match=r"routes to \['poet'\] but experts has no runnable"):
        IR3DERunnable(router=router, experts={"coder": echo("c"), "mathematician": echo("m")})
    extra = {**{e: echo(e) for e in EXPERTS}, "chef": echo("chef")}
    with pytest.raises(ExpertError, match=r"runnables for \['chef'\], which the router never"):
        IR3DERunnable(router=router, experts=extra)
    with pytest.raises(ValueError, match="max_attempts"):
        IR3DERunnable(router=router, experts={e: echo(e) for e in EXPERTS}, max_attempts=0)
    with pytest.raises(ValueError, match="forced='chef' is not an expert"):
        IR3DERunnable(router=router, experts={e: echo(e) for e in EXPERTS}, forced="chef")


def grouped_inputs() -> list[str]:
    """30 inputs cycling through the three experts' prompts."""
    cycle = [p for i in range(2) for p in (PROMPTS[e][i] for e in EXPERTS)]
    return [f"{cycle[i % len(cycle)]} #{i}" for i in range(30)]


def test_batch_calls_each_experts_batch_once_in_input_order(chain: IR3DERunnable) -> None:
    inputs = grouped_inputs()
    expected = [chain.route(x).expert for x in inputs]
    assert {e: expected.count(e) for e in EXPERTS} == {e: 10 for e in EXPERTS}
    with mock.patch.object(
        RunnableLambda, "batch", autospec=True, side_effect=RunnableLambda.batch
    ) as spy:
        outputs = chain.batch(inputs)
    assert outputs == [f"{e}: {x}" for e, x in zip(expected, inputs, strict=True)]
    called = [call.args[0].name for call in spy.call_args_list]
    assert sorted(called) == sorted(EXPERTS)  # each expert's batch exactly once
    sizes = {call.args[0].name: len(call.args[1]) for call in spy.call_args_list}
    assert sizes == {e: 10 for e in EXPERTS}


async def test_abatch_calls_each_experts_abatch_once(chain: IR3DERunnable) -> None:
    inputs = grouped_inputs()
    with mock.patch.object(
        RunnableLambda, "abatch", autospec=True, side_effect=RunnableLambda.abatch
    ) as spy:
        outputs = await chain.abatch(inputs)
    assert outputs == chain.batch(inputs)
    assert sorted(call.args[0].name for call in spy.call_args_list) == sorted(EXPERTS)


async def test_ainvoke_routes_like_invoke(chain: IR3DERunnable) -> None:
    prompts = [p for ps in PROMPTS.values() for p in ps]
    answers = await asyncio.gather(*(chain.ainvoke(p) for p in prompts))
    assert answers == [chain.invoke(p) for p in prompts]


def test_stream_passes_the_experts_stream_through(router: IR3DERouter) -> None:
    def words(x: str) -> Any:
        yield from (f"{w} " for w in x.split())

    experts = {"coder": echo("c"), "mathematician": echo("m"), "poet": RunnableLambda(words)}
    chain = IR3DERunnable(router=router, experts=experts)
    chunks = list(chain.stream("write a poem about the moon"))
    assert chunks == ["write ", "a ", "poem ", "about ", "the ", "moon "]
    with_decision = chain.model_copy(update={"return_decision": True})
    streamed = list(with_decision.stream("write a poem about the moon"))
    assert streamed[0]["decision"].expert == "poet"
    assert [c["output"] for c in streamed[1:]] == chunks


def test_the_route_is_in_run_metadata_tags_and_events(chain: IR3DERunnable) -> None:
    recorder = Recorder()
    chain.invoke("solve the integral of x", {"callbacks": [recorder]})
    own = recorder.by_name("IR3DERunnable")
    assert own["metadata"]["ir3de_expert"] == "mathematician"
    assert own["metadata"]["ir3de_rule"] == "best"
    assert set(own["metadata"]["ir3de_scores"]) == set(EXPERTS)
    assert own["metadata"]["ir3de_cost"] is None  # the router's policy has no prices
    assert own["metadata"]["ir3de_lam"] is None
    assert own["metadata"]["ir3de_threshold"] is None
    child = recorder.by_name("mathematician")
    assert "ir3de:mathematician" in child["tags"]
    assert child["metadata"]["ir3de_expert"] == "mathematician"
    assert [name for name, _ in recorder.events] == ["ir3de_route"]
    assert recorder.events[0][1]["expert"] == "mathematician"
    assert recorder.events[0][1]["rule"] == "best"


async def test_astream_events_show_the_route(chain: IR3DERunnable) -> None:
    events = [e async for e in chain.astream_events("write a poem about the moon", version="v2")]
    custom = [e for e in events if e["event"] == "on_custom_event"]
    assert [e["name"] for e in custom] == ["ir3de_route"]
    assert custom[0]["data"]["expert"] == "poet"
    child_starts = [e for e in events if e["event"] == "on_chain_start" and e["name"] == "poet"]
    assert child_starts
    assert child_starts[0]["metadata"]["ir3de_expert"] == "poet"


def test_decide_returns_decisions_for_configurable_alternatives(chain: IR3DERunnable) -> None:
    decider = chain.decide()
    assert isinstance(decider, IR3DEDecider)
    assert decider.invoke("write a poem about the moon").expert == "poet"
    assert [
        d.expert for d in decider.batch(["fix this python function", "solve the integral of x"])
    ] == [
        "coder",
        "mathematician",
    ]
    model = reply("coder").configurable_alternatives(
        ConfigurableField(id="expert"), default_key="coder",
        mathematician=reply("mathematician"), poet=reply("poet"),
    )  # fmt: skip

    def answer(prompt: str) -> Any:
        expert = decider.invoke(prompt).expert
        return model.invoke(prompt, {"configurable": {"expert": expert}}).content

    assert answer("solve the integral of x") == "mathematician says hi"
    assert answer("a sonnet about the sea") == "poet says hi"


def test_config_specs_of_the_experts_are_exposed(router: IR3DERouter) -> None:
    configurable = reply("poet").configurable_alternatives(
        ConfigurableField(id="style"), default_key="plain", fancy=reply("fancy")
    )
    chain = IR3DERunnable(
        router=router,
        experts={"coder": echo("c"), "mathematician": echo("m"), "poet": configurable},
    )
    assert [s.id for s in chain.config_specs] == ["style"]
    out = chain.invoke("write a poem about the moon", {"configurable": {"style": "fancy"}})
    assert out.content == "fancy says hi"


def test_add_expert_routes_to_it_without_refitting(router: IR3DERouter) -> None:
    chain = IR3DERunnable(router=make_router(), experts={e: echo(e) for e in EXPERTS})
    chain.add_expert(
        "chef", echo("chef"),
        ["a recipe for tomato soup", "how long to bake bread", "cook pasta with garlic sauce"],
    )  # fmt: skip
    assert chain.invoke("a recipe for garlic bread") == "chef: a recipe for garlic bread"
    assert chain.invoke("fix this python function") == "coder: fix this python function"
