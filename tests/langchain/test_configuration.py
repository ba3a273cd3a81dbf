"""Settings that must reach every path: structured output, the configurable expert, named experts.

The experts here are real `ChatOpenAI` clients whose HTTP transport is answered in-process
(httpx's `MockTransport`), so the test sees the exact request each expert sends.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import httpx
import pytest
from langchain.agents import create_agent
from langchain_core.messages import HumanMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from ir3de_core import IR3DERouter
from ir3de_langchain import ChatIR3DE, IR3DEModelMiddleware, IR3DERunnable
from tests.langchain.fakes import replies

EXPERTS = ("coder", "mathematician", "poet")


class Verse(BaseModel):
    """A line of verse."""

    line: str


def completion(content: str) -> dict[str, Any]:
    """An OpenAI chat completion that answers `content`."""
    return {
        "id": "c1", "object": "chat.completion", "created": 0, "model": "gpt-test",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content},
             "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }  # fmt: skip


def openai_expert(requests: list[dict[str, Any]], content: str) -> ChatOpenAI:
    """A real `ChatOpenAI` whose server is a function: it records each request body."""

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(json.loads(request.content))
        return httpx.Response(200, json=completion(content))

    return ChatOpenAI(
        model="gpt-test", api_key="test", base_url="http://127.0.0.1:9/v1", max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(answer)),
    )  # fmt: skip


def test_structured_output_experts_get_the_chat_models_settings(router: IR3DERouter) -> None:
    requests: list[dict[str, Any]] = []
    experts = {e: openai_expert(requests, '{"line": "o moon"}') for e in EXPERTS}
    chat = ChatIR3DE(router=router, experts=experts, temperature=0.25, max_tokens=7, stop=["END"])
    structured = chat.with_structured_output(Verse)
    assert structured.invoke("write a poem about the moon") == Verse(line="o moon")
    sent = requests[-1]
    assert (sent["temperature"], sent["max_completion_tokens"], sent["stop"]) == (0.25, 7, ["END"])
    assert sent["response_format"]["type"] == "json_schema"  # the expert's own method
    assert chat.invoke("write a poem about the moon").content  # plain calls send the same
    assert {k: requests[-1][k] for k in ("temperature", "max_completion_tokens", "stop")} == {
        "temperature": 0.25, "max_completion_tokens": 7, "stop": ["END"],
    }  # fmt: skip
    assert experts["poet"].temperature is None  # the experts themselves are not changed


def test_structured_output_raw_message_carries_the_route(router: IR3DERouter) -> None:
    requests: list[dict[str, Any]] = []
    experts = {e: openai_expert(requests, '{"line": "o moon"}') for e in EXPERTS}
    chat = ChatIR3DE(router=router, experts=experts)
    out = chat.with_structured_output(Verse, include_raw=True).invoke("write a poem about the moon")
    assert out["parsed"] == Verse(line="o moon")
    raw = out["raw"]
    assert raw.response_metadata["model_name"] == "poet"
    info = raw.response_metadata["ir3de"]
    assert (info["expert"], info["rule"], info["expert_model_name"]) == ("poet", "best", "gpt-test")
    batched = chat.with_structured_output(Verse, include_raw=True).batch(
        ["fix this python function"]
    )
    assert batched[0]["raw"].response_metadata["ir3de"]["expert"] == "coder"


def test_an_expert_without_a_settings_field_is_named_in_a_warning(router: IR3DERouter) -> None:
    chat = ChatIR3DE(router=router, experts={e: replies("x") for e in EXPERTS}, temperature=0.0)
    with pytest.warns(UserWarning) as caught:
        chat.with_structured_output(Verse)
    assert sorted(str(w.message).split(" has")[0] for w in caught) == [
        f"expert '{e}' (ToolCallingFake)" for e in EXPERTS
    ]
    assert "no field for temperature" in str(caught[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ChatIR3DE(router=router, experts={e: replies() for e in EXPERTS}).with_structured_output(
            Verse
        )  # nothing to pass on: no warning


def test_configurable_model_forces_the_expert(router: IR3DERouter) -> None:
    chat = ChatIR3DE(router=router, experts={e: replies(*[f"{e} answers"] * 9) for e in EXPERTS})
    assert [spec.id for spec in chat.config_specs] == ["model"]
    forced = chat.with_config(configurable={"model": "mathematician"})
    answer = forced.invoke("write a poem about the moon")
    assert answer.content == "mathematician answers"
    assert answer.response_metadata["ir3de"]["rule"] == "forced"
    streamed = list(forced.stream("write a poem about the moon"))
    assert streamed[0].response_metadata["model_name"] == "mathematician"
    assert forced.invoke("a sonnet", model="coder").content == "coder answers"  # the call wins
    prompt = ChatPromptTemplate.from_messages([("human", "{q}")])
    chain_answer = (prompt | chat).invoke(
        {"q": "fix this python function"}, {"configurable": {"model": "poet"}}
    )
    assert chain_answer.content == "poet answers"
    assert chat.invoke("fix this python function").content == "coder answers"  # no config: routed
    with pytest.raises(ValueError, match=r"model='general' is not an expert"):
        chat.with_config(configurable={"model": "general"}).invoke("hello")


async def test_configurable_model_in_async_calls_and_agents(router: IR3DERouter) -> None:
    chat = ChatIR3DE(router=router, experts={e: replies(*[f"{e} answers"] * 9) for e in EXPERTS})
    forced = chat.with_config(configurable={"model": "poet"})
    assert (await forced.ainvoke("fix this python function")).content == "poet answers"
    chunks = [c async for c in forced.astream("fix this python function")]
    assert chunks[0].response_metadata["model_name"] == "poet"
    agent = create_agent(chat, tools=[])
    result = await agent.ainvoke(
        {"messages": [HumanMessage("fix this python function")]},
        {"configurable": {"model": "mathematician"}},
    )
    assert result["messages"][-1].content == "mathematician answers"


def test_provider_model_strings_are_experts_everywhere(
    router: IR3DERouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test")  # the clients are built, never called
    named: dict[str, Any] = {
        "coder": "openai:gpt-4o-mini",
        "mathematician": replies(),
        "poet": replies(),
    }
    chat = ChatIR3DE(router=router, experts=named)
    chain = IR3DERunnable(router=router, experts=named)
    middleware = IR3DEModelMiddleware(router, named)
    for experts in (chat.experts, chain.experts, middleware.experts):
        assert isinstance(experts["coder"], ChatOpenAI)
        assert experts["coder"].model_name == "gpt-4o-mini"
    with pytest.raises(
        ValueError, match=r"expert 'coder': cannot build a chat model from 'no-such"
    ):
        ChatIR3DE(router=router, experts={**named, "coder": "no-such-model"})
