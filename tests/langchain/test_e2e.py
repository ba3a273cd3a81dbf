"""End to end: ir3de_langchain over real experts served by a local llama.cpp server (e2e tier).

Gemma 3 270M is a base model: the tests check the plumbing (routing, metadata, streaming, tool
binding, fallback to a live expert when one is down), never the wisdom of the text.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from ir3de_core import IR3DERouter
from ir3de_langchain import ChatIR3DE, IR3DERunnable
from tests.langchain.test_standard import experts, router

pytestmark = pytest.mark.e2e

#: With a system message the 270M model answers "Hello" (without one it ends its turn at once).
CONVERSATION = [SystemMessage("You are a helpful assistant."), HumanMessage("Hello")]


@pytest.fixture(scope="module")
def chat(llm_base_url: str) -> ChatIR3DE:
    return ChatIR3DE(router=router(), experts=experts(llm_base_url), temperature=0)


def test_invoke_answers_through_the_routed_expert(chat: ChatIR3DE) -> None:
    first = chat.invoke(CONVERSATION)
    assert first.text
    assert first.response_metadata["model_name"] == "brief"
    info = first.response_metadata["ir3de"]
    assert info["expert"] == "brief"
    assert info["expert_model_name"].startswith("gemma") or "gemma" in info["expert_model_name"]
    assert first.usage_metadata is not None
    assert first.usage_metadata["output_tokens"] <= 8  # the brief expert's own max_tokens
    assert chat.invoke(CONVERSATION).text == first.text  # temperature 0: repeatable


def test_stream_passes_the_real_stream_through(chat: ChatIR3DE) -> None:
    chunks = list(chat.stream(CONVERSATION, model="thorough"))
    assert len(chunks) > 1
    full = chunks[0]
    for chunk in chunks[1:]:
        full = full + chunk
    assert full.text
    assert full.response_metadata["model_name"] == "thorough"
    assert chunks[-1].chunk_position == "last"


async def test_astream_and_ainvoke(chat: ChatIR3DE) -> None:
    answer = await chat.ainvoke(CONVERSATION)
    streamed = [c async for c in chat.astream(CONVERSATION)]
    assert "".join(c.text for c in streamed) == answer.text


def test_bind_tools_uses_the_experts_openai_binding(chat: ChatIR3DE) -> None:
    @tool
    def get_weather(city: str) -> str:
        """Weather in a city."""
        return f"sunny in {city}"

    forced = {"type": "function", "function": {"name": "get_weather"}}
    answer = chat.bind_tools([get_weather], tool_choice=forced).invoke(
        [HumanMessage("What is the weather in Paris?")]
    )
    assert [call["name"] for call in answer.tool_calls] == ["get_weather"]
    assert answer.response_metadata["ir3de"]["expert"] in {"brief", "thorough"}


def test_a_down_expert_falls_back_to_a_live_one(llm_base_url: str) -> None:
    live = experts(llm_base_url)
    down = ChatOpenAI(
        model="gemma", base_url="http://127.0.0.1:9/v1", api_key="local", max_retries=0, timeout=5
    )
    model = ChatIR3DE(router=router(), experts={"brief": down, "thorough": live["thorough"]})
    answer = model.invoke(CONVERSATION)
    assert answer.response_metadata["model_name"] == "thorough"
    assert answer.response_metadata["ir3de"]["fallback_from"] == ["brief"]
    assert answer.text


def test_runnable_grouped_batch_over_real_experts(llm_base_url: str) -> None:
    chain = IR3DERunnable(
        router=router(), experts=dict(experts(llm_base_url)), return_decision=True
    )
    prompts = ["hi there", "explain in detail how a compiler works", "hey", "list every planet"]
    inputs: list[Any] = [[*CONVERSATION[:1], HumanMessage(p)] for p in prompts]
    outputs = chain.batch(inputs)
    assert [o["decision"].expert for o in outputs] == ["brief", "thorough", "brief", "thorough"]
    assert all(o["output"].usage_metadata for o in outputs)
    sizes = [o["output"].usage_metadata["output_tokens"] for o in outputs]
    assert max(sizes[0], sizes[2]) <= 8


def test_router_fixture_is_fitted() -> None:
    assert isinstance(router(), IR3DERouter)
    assert router().experts_ == ("brief", "thorough")
