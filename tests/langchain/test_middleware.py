"""Agents: `ChatIR3DE` as the model of `create_agent`, and the two middlewares."""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

from ir3de_core import ExpertError, IR3DERouter
from ir3de_langchain import ChatIR3DE, IR3DEModelMiddleware, IR3DEToolMiddleware
from tests.langchain.fakes import Broken, replies
from tests.langchain.toolset import EXAMPLES, LABELLED, TOOLS

EXPERTS = ("coder", "mathematician", "poet")


@tool
def run_python(code: str) -> str:
    """Run a snippet of Python code and return what it prints."""
    return "42"


def ask_tool(code: str, call_id: str = "call-1") -> AIMessage:
    return AIMessage("", tool_calls=[{"name": "run_python", "args": {"code": code}, "id": call_id}])


def test_create_agent_with_chat_ir3de_runs_a_tool_loop(router: IR3DERouter) -> None:
    coder = replies(ask_tool("print(6 * 7)"), "the script prints 42")
    unused = {e: replies() for e in ("mathematician", "poet")}
    model = ChatIR3DE(router=router, experts={"coder": coder, **unused})
    agent = create_agent(model, tools=[run_python])
    result = agent.invoke({"messages": [HumanMessage("fix this python function and run it")]})
    _, asked, ran, final = result["messages"]
    assert asked.tool_calls[0]["name"] == "run_python"
    assert asked.response_metadata["ir3de"]["rule"] == "best"
    assert isinstance(ran, ToolMessage)
    assert ran.content == "42"
    assert final.content == "the script prints 42"
    assert final.response_metadata["model_name"] == "coder"
    assert final.response_metadata["ir3de"]["rule"] == "sticky"
    assert coder.offered == [["run_python"], ["run_python"]]


async def test_create_agent_with_chat_ir3de_async(router: IR3DERouter) -> None:
    poet = replies(ask_tool("print('moon')"), "o moon")
    model = ChatIR3DE(
        router=router, experts={"coder": replies(), "mathematician": replies(), "poet": poet}
    )
    agent = create_agent(model, tools=[run_python])
    result = await agent.ainvoke({"messages": [HumanMessage("write a poem about the moon")]})
    assert [type(m).__name__ for m in result["messages"]] == [
        "HumanMessage", "AIMessage", "ToolMessage", "AIMessage",
    ]  # fmt: skip
    assert result["messages"][-1].content == "o moon"


def test_model_middleware_routes_each_step_of_any_agent(router: IR3DERouter) -> None:
    mathematician = replies(ask_tool("print(2 ** 10)"), "it is 1024")
    experts = {"coder": replies(), "mathematician": mathematician, "poet": replies()}
    middleware = IR3DEModelMiddleware(router, experts)
    agent = create_agent(replies(), tools=[run_python], middleware=[middleware])
    result = agent.invoke({"messages": [HumanMessage("compute the derivative of x squared")]})
    _, asked, _, final = result["messages"]
    assert asked.response_metadata["ir3de"]["expert"] == "mathematician"
    assert asked.response_metadata["ir3de"]["rule"] == "best"
    assert final.content == "it is 1024"
    assert final.response_metadata["ir3de"]["rule"] == "sticky"
    assert mathematician.offered == [["run_python"], ["run_python"]]


async def test_model_middleware_falls_back_on_a_failing_expert(router: IR3DERouter) -> None:
    prompt = "write a poem about the moon"
    runner_up = router.route([prompt])[0].ranking()[1]
    experts: dict[str, Any] = {e: replies(*[f"{e} answers"] * 2) for e in EXPERTS}
    experts["poet"] = Broken()
    agent = create_agent(replies(), tools=[], middleware=[IR3DEModelMiddleware(router, experts)])
    for result in (
        agent.invoke({"messages": [HumanMessage(prompt)]}),
        await agent.ainvoke({"messages": [HumanMessage(prompt)]}),
    ):
        answer = result["messages"][-1]
        assert answer.content == f"{runner_up} answers"
        assert answer.response_metadata["ir3de"]["fallback_from"] == ["poet"]
    with pytest.raises(ExpertError, match=r"routes to \['poet'\] but experts has no model"):
        IR3DEModelMiddleware(router, {"coder": replies(), "mathematician": replies()})


async def test_model_middleware_retries_only_what_fallback_on_accepts(router: IR3DERouter) -> None:
    prompt = "write a poem about the moon"
    experts: dict[str, Any] = {e: replies(*[f"{e} answers"] * 2) for e in EXPERTS}
    experts["poet"] = Broken(error=ValueError)
    strict = create_agent(replies(), tools=[], middleware=[IR3DEModelMiddleware(router, experts)])
    with pytest.raises(ValueError, match="connection refused"):
        strict.invoke({"messages": [HumanMessage(prompt)]})
    lenient = IR3DEModelMiddleware(router, experts, fallback_on=lambda e: True)
    agent = create_agent(replies(), tools=[], middleware=[lenient])
    answer = (await agent.ainvoke({"messages": [HumanMessage(prompt)]}))["messages"][-1]
    assert answer.response_metadata["ir3de"]["fallback_from"] == ["poet"]
    assert experts["poet"].calls == 2


@pytest.fixture(scope="module")
def selectors() -> dict[str, IR3DEToolMiddleware]:
    """Tool selectors over the 20 tools: from descriptions only, and with example requests."""
    return {
        "descriptions": IR3DEToolMiddleware.from_tools(TOOLS, top_k=3),
        "descriptions+examples": IR3DEToolMiddleware.from_tools(TOOLS, examples=EXAMPLES, top_k=3),
    }


def accuracy(selector: IR3DEToolMiddleware, k: int) -> float:
    """Share of `LABELLED` requests whose tool is among the k offered."""
    hits = [tool in selector.rank([HumanMessage(text)])[:k] for text, tool in LABELLED]
    return sum(hits) / len(hits)


def test_tool_middleware_narrows_20_tools_to_the_right_ones(
    selectors: dict[str, IR3DEToolMiddleware],
) -> None:
    measured = {
        name: {k: accuracy(selector, k) for k in (1, 3)} for name, selector in selectors.items()
    }
    print(f"\ntool selection on {len(LABELLED)} held-out requests, 20 tools:")
    for name, by_k in measured.items():
        print(f"  {name:24s} top-1 {by_k[1]:.3f}  top-3 {by_k[3]:.3f}")
    assert measured["descriptions"][3] >= 0.9
    assert measured["descriptions+examples"][3] >= 0.95
    assert measured["descriptions+examples"][1] >= 0.9


def test_tool_middleware_in_an_agent_offers_top_k(
    selectors: dict[str, IR3DEToolMiddleware],
) -> None:
    selector = selectors["descriptions+examples"]
    model = replies(
        AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Oslo"}, "id": "w"}]),
        "sunny in Oslo",
    )
    keep = IR3DEToolMiddleware(selector.router, top_k=2, always_include=["send_email"])
    agent = create_agent(model, tools=TOOLS, middleware=[keep])
    result = agent.invoke({"messages": [HumanMessage("is it going to rain in Oslo tomorrow")]})
    assert result["messages"][-1].content == "sunny in Oslo"
    first, second = model.offered
    assert "get_weather" in first
    assert len(first) == 3  # top-2 plus always_include, in the agent's order
    assert "send_email" in first
    assert first == second  # the same request, the same tools inside the loop
    assert result["messages"][1].response_metadata["ir3de_tools"] == first


def test_tool_middleware_keeps_tools_it_does_not_know(
    selectors: dict[str, IR3DEToolMiddleware],
) -> None:
    selector = selectors["descriptions"]
    offered = selector.select(
        [HumanMessage("translate good morning into German")],
        [*TOOLS, run_python, {"type": "web_search"}],
    )
    names = [t.name if hasattr(t, "name") else t["type"] for t in offered]
    assert "translate_text" in names
    assert names[-2:] == ["run_python", "web_search"]
    assert len(names) == 5
    with pytest.raises(ValueError, match="top_k"):
        IR3DEToolMiddleware(selector.router, top_k=0)
