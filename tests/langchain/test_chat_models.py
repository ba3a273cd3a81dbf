"""`ChatIR3DE`: routing, forcing, stickiness, tools, structured output, streaming, tracing, fallback."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.tools import tool
from pydantic import BaseModel

from ir3de_core import ExpertError, IR3DERouter
from ir3de_langchain import ChatIR3DE, ExpertsFailedError
from tests.langchain.fakes import Broken, replies

EXPERTS = ("coder", "mathematician", "poet")


def chat(router: IR3DERouter, **experts: Any) -> ChatIR3DE:
    """A `ChatIR3DE` whose experts each answer ``"<name> answers"`` unless given."""
    models = {e: experts.get(e) or replies(*[f"{e} answers"] * 5) for e in EXPERTS}
    return ChatIR3DE(router=router, experts=models)


class ChatRecorder(BaseCallbackHandler):
    """Keeps each chat model run's parent, tags and metadata."""

    def __init__(self) -> None:
        self.starts: list[dict[str, Any]] = []

    def on_chat_model_start(
        self, serialized: Any, messages: Any, *, run_id: UUID, parent_run_id: UUID | None = None,
        tags: Any = None, metadata: Any = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        self.starts.append(
            {"run_id": run_id, "parent": parent_run_id, "tags": tags or [], "metadata": metadata}
        )


def test_invoke_routes_on_the_last_human_message(router: IR3DERouter) -> None:
    model = chat(router)
    answer = model.invoke([SystemMessage("be brief"), HumanMessage("write a poem about the moon")])
    assert answer.content == "poet answers"
    assert answer.response_metadata["model_name"] == "poet"
    info = answer.response_metadata["ir3de"]
    assert info["expert"] == "poet"
    assert info["rule"] == "best"
    assert set(info["scores"]) == set(EXPERTS)
    assert info["confidence"] > 0.9
    assert info["fallback_from"] == []
    assert (info["cost"], info["lam"], info["threshold"]) == (None, None, None)
    history = [HumanMessage("write a poem about the moon"), AIMessage("ok")]
    assert model.invoke([*history, HumanMessage("fix this python function")]).content == (
        "coder answers"
    )


def test_route_on_conversation_reads_every_turn(router: IR3DERouter) -> None:
    model = chat(router).model_copy(update={"route_on": "conversation"})
    messages = [
        HumanMessage("solve the integral of x"),
        AIMessage("compute the derivative of x squared first"),
        HumanMessage("and then?"),
    ]
    assert model.invoke(messages).response_metadata["model_name"] == "mathematician"


def test_model_kwarg_forces_an_expert(router: IR3DERouter) -> None:
    model = chat(router)
    answer = model.invoke("write a poem about the moon", model="coder")
    assert answer.content == "coder answers"
    assert answer.response_metadata["ir3de"]["rule"] == "forced"
    assert model.bind(model="mathematician").invoke("a sonnet").content == "mathematician answers"
    with pytest.raises(ValueError, match=r"model='gpt' is not an expert; choose one of \['coder'"):
        model.invoke("hello", model="gpt")


def test_a_tool_loop_stays_with_its_expert_unless_told_otherwise(router: IR3DERouter) -> None:
    model = chat(router)
    asked = AIMessage(
        "",
        tool_calls=[{"name": "lookup", "args": {}, "id": "1"}],
        response_metadata={"ir3de": {"expert": "mathematician"}},
    )
    loop = [HumanMessage("write a poem about the moon"), asked, ToolMessage("42", tool_call_id="1")]
    answer = model.invoke(loop)
    assert answer.content == "mathematician answers"
    assert answer.response_metadata["ir3de"]["rule"] == "sticky"
    unsticky = model.model_copy(update={"sticky": False})
    assert unsticky.invoke(loop).content == "poet answers"
    new_turn = [*loop, AIMessage("done"), HumanMessage("fix this python function")]
    assert model.invoke(new_turn).response_metadata["ir3de"]["rule"] == "best"


def test_bind_tools_uses_the_chosen_experts_own_binding(router: IR3DERouter) -> None:
    @tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    call = AIMessage("", tool_calls=[{"name": "add", "args": {"a": 1, "b": 2}, "id": "c1"}])
    coder = replies(call)
    model = chat(router, coder=coder)
    bound = model.bind_tools([add, {"type": "web_search"}], tool_choice="add", strict=True)
    answer = bound.invoke("fix this python function")
    assert answer.tool_calls == [
        {"name": "add", "args": {"a": 1, "b": 2}, "id": "c1", "type": "tool_call"}
    ]
    assert answer.response_metadata["model_name"] == "coder"
    assert coder.offered == [["add", "web_search"]]
    assert coder.tool_choices == ["add"]


def test_with_structured_output_uses_the_experts_structured_output(router: IR3DERouter) -> None:
    class Verse(BaseModel):
        """A line of verse."""

        line: str

    call = AIMessage("", tool_calls=[{"name": "Verse", "args": {"line": "o moon"}, "id": "v"}])
    model = chat(router, poet=replies(call), coder=replies(call))
    structured = model.with_structured_output(Verse)
    assert structured.invoke("write a poem about the moon") == Verse(line="o moon")
    raw = chat(router, poet=replies(call)).with_structured_output(Verse, include_raw=True)
    out = raw.invoke([HumanMessage("write a poem about the moon")])
    assert out["parsed"] == Verse(line="o moon")


def test_profile_is_what_every_expert_can_do(router: IR3DERouter) -> None:
    a = replies("a")
    a.profile = {"tool_calling": True, "image_inputs": True, "max_input_tokens": 8000}
    b = replies("b")
    b.profile = {"tool_calling": True, "image_inputs": False, "max_input_tokens": 2000}
    c = replies("c")
    c.profile = {"tool_calling": True, "image_inputs": True, "max_input_tokens": 4000}
    model = ChatIR3DE(router=router, experts={"coder": a, "mathematician": b, "poet": c})
    assert model.profile == {"tool_calling": True, "image_inputs": False, "max_input_tokens": 2000}
    assert chat(router).profile is None  # an expert without a profile: nothing can be promised


def test_stream_passes_chunks_through_with_the_route_once(router: IR3DERouter) -> None:
    model = chat(router, poet=replies("the moon is a silver coin"))
    chunks = list(model.stream("write a poem about the moon"))
    assert [c.content for c in chunks if c.content] == [
        "the",
        "moon",
        "is",
        "a",
        "silver",
        "coin",
    ] or [c.content for c in chunks if c.content] == [
        "the",
        " ",
        "moon",
        " ",
        "is",
        " ",
        "a",
        " ",
        "silver",
        " ",
        "coin",
    ]
    full = chunks[0]
    for chunk in chunks[1:]:
        full = full + chunk
    assert isinstance(full, AIMessageChunk)
    assert full.content == "the moon is a silver coin"
    assert full.response_metadata["model_name"] == "poet"  # once, not "poetpoet"
    assert full.response_metadata["ir3de"]["expert"] == "poet"
    assert chunks[-1].chunk_position == "last"


async def test_async_invoke_and_stream(router: IR3DERouter) -> None:
    model = chat(router, mathematician=replies("x squared over two", "two x"))
    answer = await model.ainvoke("solve the integral of x")
    assert answer.content == "x squared over two"
    assert answer.response_metadata["model_name"] == "mathematician"
    chunks = [c async for c in model.astream("compute the derivative of x squared")]
    assert "".join(str(c.content) for c in chunks) == "two x"
    assert sum(c.response_metadata.get("model_name") == "mathematician" for c in chunks) == 1


def test_streaming_flag_streams_inside_invoke(router: IR3DERouter) -> None:
    model = chat(router, poet=replies("o moon")).model_copy(update={"streaming": True})
    answer = model.invoke("write a poem about the moon")
    assert answer.content == "o moon"
    assert answer.response_metadata["model_name"] == "poet"


def test_the_experts_run_is_a_child_run_carrying_the_route(router: IR3DERouter) -> None:
    recorder = ChatRecorder()
    chat(router).invoke("solve the integral of x", config={"callbacks": [recorder]})
    outer, inner = recorder.starts
    assert inner["parent"] == outer["run_id"]
    assert inner["metadata"]["ir3de_expert"] == "mathematician"
    assert set(inner["metadata"]["ir3de_scores"]) == set(EXPERTS)
    assert "ir3de:mathematician" in inner["tags"]
    assert "nostream" in inner["tags"]  # LangGraph streams the outer run's tokens only
    assert outer["metadata"]["ls_provider"] == "ir3de"


def test_a_failing_expert_falls_back_and_the_answer_says_so(router: IR3DERouter) -> None:
    broken = Broken()
    model = chat(router, coder=broken)
    prompt = "fix this python function"
    runner_up = router.route([prompt])[0].ranking()[1]
    answer = model.invoke(prompt)
    assert answer.content == f"{runner_up} answers"
    assert answer.response_metadata["model_name"] == runner_up
    assert answer.response_metadata["ir3de"]["fallback_from"] == ["coder"]
    streamed = list(chat(router, coder=broken).stream(prompt))
    assert streamed[0].response_metadata["ir3de"]["fallback_from"] == ["coder"]
    assert broken.calls == 2
    no_fallback = model.model_copy(update={"max_retries": 0})
    with pytest.raises(ExpertsFailedError, match="connection refused"):
        no_fallback.invoke(prompt)


async def test_async_fallback(router: IR3DERouter) -> None:
    answer = await chat(router, poet=Broken()).ainvoke("write a poem about the moon")
    assert answer.response_metadata["ir3de"]["fallback_from"] == ["poet"]


def test_a_non_transient_error_is_not_retried_on_another_expert(router: IR3DERouter) -> None:
    refusing = Broken(error=ValueError)  # e.g. a request the expert rejects: HTTP 400
    mathematician = replies("mathematician answers")
    model = chat(router, coder=refusing, mathematician=mathematician)
    with pytest.raises(ValueError, match="connection refused"):
        model.invoke("fix this python function")
    with pytest.raises(ValueError, match="connection refused"):
        list(model.stream("fix this python function"))
    assert refusing.calls == 2
    assert model.invoke("solve the integral of x").content == "mathematician answers"


async def test_fallback_on_chooses_which_failures_move(router: IR3DERouter) -> None:
    model = chat(router, coder=Broken(error=ValueError)).model_copy(
        update={"fallback_on": lambda e: isinstance(e, ValueError)}
    )
    answer = await model.ainvoke("fix this python function")
    assert answer.response_metadata["ir3de"]["fallback_from"] == ["coder"]
    strict = chat(router, coder=Broken()).model_copy(update={"fallback_on": lambda e: False})
    with pytest.raises(ConnectionError, match="connection refused"):
        strict.invoke("fix this python function")


def test_construction_errors_name_the_fix(router: IR3DERouter) -> None:
    with pytest.raises(ExpertError, match=r"routes to \['poet'\] but experts has no chat model"):
        ChatIR3DE(router=router, experts={"coder": replies("a"), "mathematician": replies("b")})
    extra = {e: replies("a") for e in (*EXPERTS, "chef")}
    with pytest.raises(ExpertError, match=r"chat models for \['chef'\]"):
        ChatIR3DE(router=router, experts=extra)
    with pytest.raises(ValueError, match="max_retries"):
        ChatIR3DE(router=router, experts={e: replies("a") for e in EXPERTS}, max_retries=-1)
    with pytest.raises(ValueError, match="no text to route"):
        chat(router).invoke([HumanMessage("   ")])


def test_standard_params_reach_the_expert_call(router: IR3DERouter) -> None:
    model = ChatIR3DE(
        router=router, experts={e: replies("a") for e in EXPERTS}, temperature=0.0,
        max_tokens=12, stop=["END"],
    )  # fmt: skip
    params = model._get_ls_params(model="poet")
    assert params["ls_model_name"] == "poet"
    assert (params["ls_temperature"], params["ls_max_tokens"], params["ls_stop"]) == (
        0.0,
        12,
        ["END"],
    )
    _, call = model._expert_call("poet", None, {"tools": None, "top_p": 0.5})
    assert call == {"temperature": 0.0, "max_tokens": 12, "stop": ["END"], "top_p": 0.5}
