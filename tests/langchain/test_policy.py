"""The policy decides in every class: cost, threshold → default, forced, sticky; fallback too."""

from __future__ import annotations

import copy
from typing import Any

from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.runnables import ConfigurableField, RunnableLambda
from langchain_core.tools import tool

from ir3de_core import IR3DERouter, RoutingPolicy
from ir3de_langchain import ChatIR3DE, IR3DEModelMiddleware, IR3DERunnable, IR3DEToolMiddleware
from tests.langchain.fakes import Broken, replies
from tests.langchain.test_runnables import echo, fail
from tests.langchain.toolset import EXAMPLES, TOOLS

EXPERTS = ("coder", "mathematician", "poet")

#: The poet costs 100 per query: λ = 0.02 sends poems to the cheapest expert (the coder).
COST = RoutingPolicy(
    prices={"coder": 1.0, "mathematician": 2.0, "poet": 100.0}, price_unit="query", lam=0.02
)
#: Below 99% confidence the mathematician answers (calibrated confidences of the fixture's
#: router: "write python code that sorts a list" 98%, "fix this python function" 99.9%).
THRESHOLD = RoutingPolicy(threshold=0.99, default="mathematician")
#: The mathematician is dear: after the coder fails, the poet (not the runner-up) answers.
DEAR_RUNNER_UP = RoutingPolicy(
    prices={"coder": 1.0, "mathematician": 5.0, "poet": 1.0}, price_unit="query", lam=0.01
)
UNSURE = "write python code that sorts a list"


def runnable(router: IR3DERouter, **settings: Any) -> IR3DERunnable:
    experts = {e: echo(e) for e in EXPERTS}
    return IR3DERunnable(router=router, experts=experts, return_decision=True, **settings)


def chat(router: IR3DERouter, **settings: Any) -> ChatIR3DE:
    experts = {e: replies(*[f"{e} answers"] * 5) for e in EXPERTS}
    return ChatIR3DE(router=router, experts=experts, **settings)


# ---------------------------------------------------------------- IR3DERunnable / IR3DEDecider
def test_runnable_cost_policy_sends_poems_to_the_cheap_expert(router: IR3DERouter) -> None:
    chain = runnable(router, policy=COST)
    out = chain.invoke("write a poem about the moon")
    assert out["output"] == "coder: write a poem about the moon"
    decision = out["decision"]
    assert (decision.expert, decision.rule, decision.cost, decision.lam) == (
        "coder",
        "cost",
        1.0,
        0.02,
    )
    assert decision.costs == {"coder": 1.0, "mathematician": 2.0, "poet": 100.0}
    batched = chain.batch(["write a poem about the moon", "solve the integral of x"])
    assert [(o["decision"].expert, o["decision"].rule) for o in batched] == [
        ("coder", "cost"), ("mathematician", "cost"),
    ]  # fmt: skip
    assert runnable(router).invoke("write a poem about the moon")["decision"].expert == "poet"
    assert chain.decide().invoke("a sonnet about the sea").rule == "cost"


def test_runnable_without_a_policy_follows_the_routers_own(router: IR3DERouter) -> None:
    priced = copy.copy(router).set_policy(COST)
    decision = runnable(priced).invoke("write a poem about the moon")["decision"]
    assert (decision.expert, decision.rule) == ("coder", "cost")
    assert router.policy_ == RoutingPolicy()  # the fixture's router is untouched


def test_runnable_threshold_sends_unsure_prompts_to_the_default(router: IR3DERouter) -> None:
    chain = runnable(router, policy=THRESHOLD)
    unsure = chain.invoke(UNSURE)["decision"]
    assert (unsure.expert, unsure.rule, unsure.threshold) == ("mathematician", "default", 0.99)
    assert unsure.confidence < 0.99
    sure = chain.invoke("fix this python function")["decision"]
    assert (sure.expert, sure.rule) == ("coder", "best")


def test_runnable_forced_expert_and_per_call_forcing(router: IR3DERouter) -> None:
    forced = runnable(router, forced="poet").invoke("fix this python function")
    assert forced["output"] == "poet: fix this python function"
    assert forced["decision"].rule == "forced"
    per_call = runnable(router).configurable_fields(forced=ConfigurableField(id="expert"))
    out = per_call.invoke("fix this python function", {"configurable": {"expert": "mathematician"}})
    assert (out["decision"].expert, out["decision"].rule) == ("mathematician", "forced")
    assert per_call.invoke("fix this python function")["decision"].rule == "best"
    decider = runnable(router).decide()
    assert decider.route("fix this python function", forced="poet").rule == "forced"


def test_fallback_is_the_policy_deciding_again(router: IR3DERouter) -> None:
    experts = {"coder": RunnableLambda(fail), "mathematician": echo("m"), "poet": echo("p")}
    prompt = "fix this python function"
    plain = IR3DERunnable(router=router, experts=experts, return_decision=True)
    assert plain.invoke(prompt)["decision"].expert == "mathematician"  # the runner-up by score
    priced = plain.model_copy(update={"policy": DEAR_RUNNER_UP})
    for out in (priced.invoke(prompt), priced.batch([prompt])[0]):
        decision = out["decision"]
        assert out["output"] == f"p: {prompt}"
        assert (decision.expert, decision.rule, decision.fallback_from) == (
            "poet", "cost", ("coder",),
        )  # fmt: skip


# ---------------------------------------------------------------- ChatIR3DE
def test_chat_cost_policy_is_in_the_answer(router: IR3DERouter) -> None:
    answer = chat(router, policy=COST).invoke("write a poem about the moon")
    assert answer.content == "coder answers"
    info = answer.response_metadata["ir3de"]
    assert (info["expert"], info["rule"], info["cost"], info["lam"]) == ("coder", "cost", 1.0, 0.02)
    assert info["predicted_quality"] is None  # domain mode: no quality prediction
    streamed = list(chat(router, policy=COST).stream("write a poem about the moon"))
    assert streamed[0].response_metadata["ir3de"]["rule"] == "cost"


def test_chat_threshold_default_and_forced(router: IR3DERouter) -> None:
    model = chat(router, policy=THRESHOLD)
    info = model.invoke(UNSURE).response_metadata["ir3de"]
    assert (info["expert"], info["rule"], info["threshold"]) == ("mathematician", "default", 0.99)
    forced = model.invoke(UNSURE, model="poet").response_metadata["ir3de"]
    assert (forced["expert"], forced["rule"]) == ("poet", "forced")
    structured = model.with_structured_output({"title": "x", "type": "object", "properties": {}})
    assert isinstance(structured, IR3DERunnable)
    assert structured.policy == THRESHOLD


def test_chat_sticky_keeps_the_loop_whatever_the_policy(router: IR3DERouter) -> None:
    asked = AIMessage(
        "", tool_calls=[{"name": "lookup", "args": {}, "id": "1"}],
        response_metadata={"ir3de": {"expert": "poet"}},
    )  # fmt: skip
    loop = [HumanMessage("write a poem about the moon"), asked, ToolMessage("42", tool_call_id="1")]
    info = chat(router, policy=COST).invoke(loop).response_metadata["ir3de"]
    assert (info["expert"], info["rule"]) == ("poet", "sticky")
    assert info["costs"]["poet"] == 100.0


def test_chat_fallback_uses_the_policy(router: IR3DERouter) -> None:
    experts: dict[str, Any] = {e: replies(*[f"{e} answers"] * 2) for e in EXPERTS}
    experts["coder"] = Broken()
    model = ChatIR3DE(router=router, experts=experts, policy=DEAR_RUNNER_UP)
    info = model.invoke("fix this python function").response_metadata["ir3de"]
    assert (info["expert"], info["rule"], info["fallback_from"]) == ("poet", "cost", ["coder"])


# ---------------------------------------------------------------- middleware
def test_model_middleware_honours_the_policy(router: IR3DERouter) -> None:
    ask = AIMessage("", tool_calls=[{"name": "noop", "args": {}, "id": "n"}])
    coder = replies(ask, "done")
    experts = {"coder": coder, "mathematician": replies("x"), "poet": replies("o moon")}
    middleware = IR3DEModelMiddleware(router, experts, policy=COST)
    assert middleware.decide([HumanMessage(UNSURE)]).rule == "cost"

    @tool
    def noop() -> str:
        """Do nothing."""
        return "ok"

    agent = create_agent(replies(), tools=[noop], middleware=[middleware])
    result = agent.invoke({"messages": [HumanMessage("write a poem about the moon")]})
    _, asked, _, final = result["messages"]
    info = asked.response_metadata["ir3de"]
    assert (info["expert"], info["rule"]) == ("coder", "cost")
    assert final.response_metadata["ir3de"]["rule"] == "sticky"
    unsure = IR3DEModelMiddleware(router, experts, policy=THRESHOLD).decide([HumanMessage(UNSURE)])
    assert (unsure.expert, unsure.rule) == ("mathematician", "default")


def test_tool_middleware_ranks_through_the_policy() -> None:
    selector = IR3DEToolMiddleware.from_tools(TOOLS, examples=EXAMPLES, top_k=2)
    request = [HumanMessage("is it going to rain in Oslo tomorrow")]
    assert selector.rank(request)[0] == "get_weather"
    assert selector.decide(request).rule == "best"
    always_search = selector.router.policy_.replace(threshold=1.0, default="search_web")
    cautious = IR3DEToolMiddleware(selector.router, top_k=2, policy=always_search)
    assert cautious.decide(request).rule == "default"
    assert cautious.rank(request)[:2] == ["search_web", "get_weather"]
    offered = {"send_email", "translate_text", "unknown_tool"}
    assert set(selector.rank(request, offered)) == {"send_email", "translate_text"}
    assert selector.decide(request, {"unknown_tool"}) is None
