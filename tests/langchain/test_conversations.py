"""Conversations keep their expert across turns unless a new turn is confidently another's.

The fixture router is sure of clear requests ("fix this python function": coder, 0.99) and unsure
of follow-ups ("thanks!": 0.43, "make it shorter": 0.52); the default `SWITCH_CONFIDENCE` is 0.8.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

from ir3de_core import IR3DERouter, RoutingPolicy
from ir3de_langchain import SWITCH_CONFIDENCE, ChatIR3DE, IR3DEModelMiddleware
from tests.langchain.fakes import replies

EXPERTS = ("coder", "mathematician", "poet")
VAGUE = ("thanks!", "make it shorter")


def chat(router: IR3DERouter, **settings: Any) -> ChatIR3DE:
    experts = {e: replies(*[f"{e} answers"] * 9) for e in EXPERTS}
    return ChatIR3DE(router=router, experts=experts, **settings)


def talk(model: ChatIR3DE, turns: list[str]) -> list[tuple[str, str]]:
    """Each turn's (expert, rule), the answers kept in the history as an app would keep them."""
    history: list[BaseMessage] = []
    out = []
    for turn in turns:
        history.append(HumanMessage(turn))
        answer = model.invoke(history)
        history.append(answer)
        info = answer.response_metadata["ir3de"]
        out.append((info["expert"], info["rule"]))
    return out


def test_the_router_is_unsure_of_the_vague_turns(router: IR3DERouter) -> None:
    for text in VAGUE:
        decision = router.route([text])[0]
        assert decision.expert != "poet"
        assert decision.confidence < SWITCH_CONFIDENCE
    assert router.route(["fix this python function"])[0].confidence >= SWITCH_CONFIDENCE


def test_a_chat_keeps_its_expert_until_a_turn_is_confidently_elsewhere(router: IR3DERouter) -> None:
    turns = ["write a poem about the moon", *VAGUE, "fix this python function", "thanks!"]
    assert talk(chat(router), turns) == [
        ("poet", "best"), ("poet", "sticky"), ("poet", "sticky"), ("coder", "best"),
        ("coder", "sticky"),
    ]  # fmt: skip
    anew = talk(chat(router, switch_confidence=0.0), turns)
    assert [expert for expert, _ in anew] == [router.route([t])[0].expert for t in turns]
    assert all(rule == "best" for _, rule in anew)
    loyal = talk(chat(router, switch_confidence=1.0), turns)
    assert [expert for expert, _ in loyal] == ["poet"] * 5
    assert [expert for expert, _ in talk(chat(router, sticky=False), turns)][1:3] == [
        router.route([t])[0].expert for t in VAGUE
    ]


def test_the_sticky_decision_is_the_policys(router: IR3DERouter) -> None:
    priced = RoutingPolicy(
        prices={"coder": 1.0, "mathematician": 2.0, "poet": 100.0}, price_unit="query", lam=0.0
    )
    history = [
        HumanMessage("write a poem about the moon"),
        AIMessage("o moon", response_metadata={"ir3de": {"expert": "poet"}}),
        HumanMessage("thanks!"),
    ]
    model = chat(router, policy=priced)
    decision = model.route(history)
    assert (decision.expert, decision.rule) == ("poet", "sticky")
    assert decision.costs["poet"] == 100.0
    assert decision.probabilities == router.route(["thanks!"])[0].probabilities
    assert model.route(history, model="coder").rule == "forced"  # forcing wins over the thread


def test_switch_confidence_is_a_probability(router: IR3DERouter) -> None:
    with pytest.raises(ValueError, match=r"switch_confidence must be in \[0, 1\], got 1.5"):
        chat(router, switch_confidence=1.5)
    with pytest.raises(ValueError, match="switch_confidence"):
        IR3DEModelMiddleware(router, {e: replies() for e in EXPERTS}, switch_confidence=-0.1)


def test_an_agent_thread_keeps_its_model_across_turns(router: IR3DERouter) -> None:
    experts = {e: replies(*[f"{e} answers"] * 9) for e in EXPERTS}
    agent = create_agent(
        replies(), tools=[], middleware=[IR3DEModelMiddleware(router, experts)],
        checkpointer=InMemorySaver(),
    )  # fmt: skip
    thread = {"configurable": {"thread_id": "t1"}}
    routes = []
    for turn in ["write a poem about the moon", "make it shorter", "fix this python function"]:
        result = agent.invoke({"messages": [HumanMessage(turn)]}, thread)
        info = result["messages"][-1].response_metadata["ir3de"]
        routes.append((info["expert"], info["rule"]))
    assert routes == [("poet", "best"), ("poet", "sticky"), ("coder", "best")]
    other = agent.invoke(
        {"messages": [HumanMessage("make it shorter")]}, {"configurable": {"thread_id": "t2"}}
    )
    assert other["messages"][-1].response_metadata["ir3de"]["rule"] == "best"  # a new thread
