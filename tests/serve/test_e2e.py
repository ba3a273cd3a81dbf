"""End to end: the gateway in front of two real llama.cpp experts (Gemma 3 270M), used by the
official `openai` SDK, LangChain's `ChatOpenAI` and LlamaIndex's `OpenAILike` (e2e tier).

The 270M model answers poorly: the tests check the plumbing (routing, rewriting, streaming, tool
calls passed through, feedback, fallback, reload), never the wisdom of the text.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from llama_index.core.base.llms.types import ChatMessage
from llama_index.llms.openai_like import OpenAILike

from ir3de_core import IR3DERouter
from ir3de_serve import save_atomically
from tests.llm_server import llm_python, running_llm_server
from tests.serve.conftest import config_data, gateway, gateway_app

pytestmark = pytest.mark.e2e

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
CHAT = "Hello, how are you today?"
MATH = "What is the integral of x squared times sine of x?"
TRAIN = {
    "small": ["hello there", "hi how are you", "good morning friend", "thanks a lot", "hey"],
    "large": [
        "what is the integral of x squared",
        "compute the derivative of sine of x",
        "solve this equation for x",
        "prove the theorem about primes",
        "what is the sum of this series",
    ],
}
CALCULATOR = {
    "type": "function",
    "function": {
        "name": "calculator",
        "description": "Evaluate an arithmetic expression",
        "parameters": {
            "type": "object",
            "properties": {"expression": {"type": "string"}},
            "required": ["expression"],
        },
    },
}
FORCE_CALCULATOR = {"type": "function", "function": {"name": "calculator"}}


def fit(small: str = "small", large: str = "large") -> IR3DERouter:
    """Chat prompts: `small` scores well; maths: `large`."""
    prompts = [p for ps in TRAIN.values() for p in ps]
    good = {"small": small, "large": large}
    scores = [
        {good[kind]: 0.9, good["large" if kind == "small" else "small"]: 0.2}
        for kind, ps in TRAIN.items()
        for _ in ps
    ]
    return IR3DERouter({"kind": "hashing", "n_features": 256}, target="quality").fit(
        prompts, scores
    )


@pytest.fixture(scope="module")
def llms() -> Iterator[dict[str, str]]:
    """Two llama.cpp servers with different model aliases: expert name → server root URL."""
    if llm_python() is None:
        pytest.skip("set IR3DE_LLM_PYTHON to a python with llama-cpp-python[server] (.ci/run does)")
    with (
        running_llm_server(alias="gemma-small") as small,
        running_llm_server(alias="gemma-large") as large,
    ):
        yield {"small": small.removesuffix("/v1"), "large": large.removesuffix("/v1")}


def config(path: Path, llms: dict[str, str], **tables) -> dict:
    data = config_data(path, llms, **tables)
    for expert in data["experts"]:
        expert["model"] = f"gemma-{expert['name']}"
    return data


@pytest.fixture
def url(tmp_path: Path, llms: dict[str, str]) -> Iterator[str]:
    with gateway(config(fit().save(tmp_path / "router"), llms)) as base:
        yield base


def messages(text: str) -> list[dict[str, str]]:
    return [SYSTEM, {"role": "user", "content": text}]


def test_openai_sdk_plain_routes_and_rewrites(url: str) -> None:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
    answers = {}
    for text, expert in ((CHAT, "small"), (MATH, "large")):
        raw = client.chat.completions.with_raw_response.create(
            model="ir3de", messages=messages(text), max_tokens=8, temperature=0
        )
        completion = raw.parse()
        assert raw.headers["x-ir3de-expert"] == expert
        assert raw.headers["x-ir3de-rule"] == "best"
        assert completion.model == expert
        assert completion.choices[0].message.content
        assert completion.usage is not None and completion.usage.completion_tokens <= 8
        answers[expert] = completion
    again = client.chat.completions.create(
        model="ir3de", messages=messages(CHAT), max_tokens=8, temperature=0
    )
    assert again.choices[0].message.content == answers["small"].choices[0].message.content
    assert again.id != answers["small"].id


def test_openai_sdk_streams_chunk_by_chunk(url: str) -> None:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
    chunks = list(
        client.chat.completions.create(
            model="ir3de", messages=messages(MATH), max_tokens=12, temperature=0, stream=True
        )
    )
    assert len(chunks) > 2
    assert {c.model for c in chunks} == {"large"} and len({c.id for c in chunks}) == 1
    plain = client.chat.completions.create(
        model="large", messages=messages(MATH), max_tokens=12, temperature=0
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content


@pytest.mark.parametrize("stream", [False, True])
def test_a_forced_tool_call_passes_through(url: str, stream: bool) -> None:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
    arguments = {
        "model": "ir3de",
        "messages": messages("What is 17 times 23? Use the calculator."),
        "tools": [CALCULATOR],
        "tool_choice": FORCE_CALCULATOR,
        "max_tokens": 48,
        "temperature": 0,
    }
    if not stream:
        choice = client.chat.completions.create(**arguments).choices[0]
        assert choice.finish_reason == "tool_calls"
        assert [c.function.name for c in choice.message.tool_calls or []] == ["calculator"]
        return
    chunks = list(client.chat.completions.create(**arguments, stream=True))
    names = [
        call.function.name
        for c in chunks
        if c.choices and c.choices[0].delta.tool_calls
        for call in c.choices[0].delta.tool_calls
        if call.function and call.function.name
    ]
    assert names and set(names) == {"calculator"}  # llama.cpp repeats the name in each delta
    assert any(c.choices and c.choices[0].finish_reason == "tool_calls" for c in chunks)
    assert {c.model for c in chunks} == {"large"}


def test_langchain_chat_openai_through_the_gateway(url: str) -> None:
    model = ChatOpenAI(
        model="ir3de", base_url=f"{url}/v1", api_key="unused", temperature=0, max_tokens=8
    )
    conversation = [SystemMessage("You are a helpful assistant."), HumanMessage(MATH)]
    answer = model.invoke(conversation)
    assert answer.response_metadata["model_name"] == "large" and answer.text
    chunks = list(model.stream(conversation))
    assert len(chunks) > 1 and "".join(c.text for c in chunks) == answer.text

    @tool
    def calculator(expression: str) -> str:
        """Evaluate an arithmetic expression."""
        return expression

    bound = model.bind_tools([calculator], tool_choice=FORCE_CALCULATOR).bind(max_tokens=48)
    called = bound.invoke([HumanMessage("What is 17 times 23?")])
    assert [c["name"] for c in called.tool_calls] == ["calculator"]


def test_llamaindex_openai_like_through_the_gateway(url: str) -> None:
    llm = OpenAILike(
        model="ir3de",
        api_base=f"{url}/v1",
        api_key="unused",
        is_chat_model=True,
        temperature=0,
        max_tokens=8,
    )
    chat = [
        ChatMessage(role="system", content=SYSTEM["content"]),
        ChatMessage(role="user", content=CHAT),
    ]
    answer = llm.chat(chat)
    assert answer.raw is not None and answer.raw.model == "small"
    assert answer.message.content
    streamed = list(llm.stream_chat(chat))
    assert len(streamed) > 1 and streamed[-1].message.content == answer.message.content


def test_feedback_changes_the_decision(tmp_path: Path, llms: dict[str, str]) -> None:
    data = config(fit().save(tmp_path / "router"), llms)
    with gateway_app(data) as (gw, url):
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
        experts = []
        for _ in range(15):
            raw = client.chat.completions.with_raw_response.create(
                model="ir3de", messages=messages(MATH), max_tokens=2, temperature=0
            )
            experts.append(raw.headers["x-ir3de-expert"])
            if experts[-1] == "small":
                break
            feedback = httpx.post(f"{url}/v1/feedback", json={"id": raw.parse().id, "score": 0.0})
            assert feedback.status_code == 200 and feedback.json()["expert"] == "large"
        assert experts[0] == "large" and experts[-1] == "small"
        assert gw.feedback.stats()["folded"] == len(experts) - 1


def test_fallback_when_one_upstream_is_stopped(tmp_path: Path, llms: dict[str, str]) -> None:
    with running_llm_server(alias="gemma-large") as doomed:
        urls = {"small": llms["small"], "large": doomed.removesuffix("/v1")}
        data = config(fit().save(tmp_path / "router"), urls, server={"cooldown_seconds": 30})
        with gateway(data) as url:
            client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
            ask = {"model": "ir3de", "messages": messages(MATH), "max_tokens": 4, "temperature": 0}
            before = client.chat.completions.with_raw_response.create(**ask)
            assert before.headers["x-ir3de-expert"] == "large"
            # leaving the block below stops the large expert's server
    with gateway(data) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
        after = client.chat.completions.with_raw_response.create(**ask)
        assert after.headers["x-ir3de-expert"] == "small"
        assert after.headers["x-ir3de-fallback-from"] == "large"
        assert after.parse().model == "small" and after.parse().choices[0].message.content
        with client.chat.completions.with_streaming_response.create(**ask, stream=True) as s:
            assert s.headers["x-ir3de-expert"] == "small"  # large sits out its cooldown
            assert "x-ir3de-fallback-from" not in s.headers
            assert any(line.startswith("data: ") for line in s.iter_lines())


def test_reload_of_a_new_router_file(tmp_path: Path, llms: dict[str, str]) -> None:
    path = fit().save(tmp_path / "router")
    with gateway(config(path, llms, router={"reload_seconds": 0.2})) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
        ask = {"model": "ir3de", "messages": messages(MATH), "max_tokens": 2, "temperature": 0}
        assert (
            client.chat.completions.with_raw_response.create(**ask).headers["x-ir3de-expert"]
            == "large"
        )
        save_atomically(fit(small="large", large="small"), path)
        deadline = time.monotonic() + 15
        while httpx.get(f"{url}/healthz").json()["router"]["version"] < 2:
            assert time.monotonic() < deadline, "the new router was not picked up"
            time.sleep(0.1)
        raw = client.chat.completions.with_raw_response.create(**ask)
        assert raw.headers["x-ir3de-expert"] == "small" and raw.parse().model == "small"


def test_bad_requests_are_4xx_with_a_clear_message(url: str) -> None:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.BadRequestError, match="'messages' is required"):
        client.chat.completions.create(model="ir3de", messages=[])
    with pytest.raises(openai.NotFoundError, match="the model 'gpt-4o' does not exist here"):
        client.chat.completions.create(model="gpt-4o", messages=messages(CHAT))
    huge = [{"role": "user", "content": "x" * (5 << 20)}]
    with pytest.raises(openai.APIStatusError, match="larger than 4194304 bytes") as info:
        client.chat.completions.create(model="ir3de", messages=huge)
    assert info.value.status_code == 413
