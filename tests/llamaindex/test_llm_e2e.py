"""IR3DELLM with real expert LLMs: llama.cpp serving Gemma 3 270M on 127.0.0.1 (e2e tier).

The 270M base model answers poorly: these tests assert the routing, the recorded decision, the
shape of the replies and their repeatability at temperature 0, never their wisdom. It does not
call tools unless a named tool is forced, and llama.cpp's server rejects the follow-up turn of a
tool call (an assistant message with no content), so the full FunctionAgent loop runs with
recorded replies in test_agents.py; here the forced first tool call is real.
"""

from __future__ import annotations

import openai
import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.agent.workflow import ReActAgent
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.tools import FunctionTool
from llama_index.llms.openai_like import OpenAILike

from ir3de_core import RoutingPolicy
from ir3de_llamaindex import DECISION_KEY, IR3DELLM, IR3DEEmbedding
from tests.llamaindex.corpus import DOCUMENTS, EXAMPLES
from tests.llamaindex.recorded import routing_events

pytestmark = pytest.mark.e2e

COOKING_Q = "How long should I roast a chicken?"
SPACE_Q = "Tell me about the stars in the night sky."


def gemma(base_url: str, *, max_tokens: int = 16) -> OpenAILike:
    return OpenAILike(
        api_base=base_url,
        api_key="local",
        model="gemma",
        is_chat_model=True,
        is_function_calling_model=True,
        context_window=2048,
        temperature=0,
        max_tokens=max_tokens,
        max_retries=0,
        timeout=120,
    )


@pytest.fixture(scope="module")
def routed(llm_base_url: str) -> IR3DELLM:
    experts = {"astronomy": gemma(llm_base_url), "cooking": gemma(llm_base_url, max_tokens=20)}
    return IR3DELLM.from_examples(experts, {n: EXAMPLES[n] for n in experts})


def user(text: str) -> list[ChatMessage]:
    return [ChatMessage(role=MessageRole.USER, content=text)]


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def test_chat_is_routed_recorded_and_repeatable(routed: IR3DELLM) -> None:
    with routing_events() as events:
        first = routed.chat(user(COOKING_Q))
        second = routed.chat(user(COOKING_Q))
    assert first.message.content
    assert first.message.content == second.message.content  # temperature 0
    assert first.additional_kwargs[DECISION_KEY]["expert"] == "cooking"
    assert first.raw is not None  # the expert's own raw response is kept
    assert [e.decision["expert"] for e in events] == ["cooking", "cooking"]
    assert routed.metadata.context_window == 2048
    assert routed.metadata.num_output == 16


async def test_streams_and_async_forms(routed: IR3DELLM) -> None:
    chunks = list(routed.stream_chat(user(SPACE_Q)))
    assert len(chunks) > 1
    assert "".join(c.delta or "" for c in chunks) == chunks[-1].message.content
    assert {c.additional_kwargs[DECISION_KEY]["expert"] for c in chunks} == {"astronomy"}
    achunks = [c async for c in await routed.astream_chat(user(SPACE_Q))]
    assert achunks[-1].message.content == chunks[-1].message.content
    completion = await routed.acomplete(COOKING_Q)
    assert completion.text
    assert completion.additional_kwargs[DECISION_KEY]["expert"] == "cooking"


def test_an_unreachable_expert_falls_back_to_the_real_one(llm_base_url: str) -> None:
    down = gemma("http://127.0.0.1:9/v1")  # nothing listens on the discard port
    llm = IR3DELLM.from_examples(
        {"astronomy": gemma(llm_base_url), "cooking": down},
        {"astronomy": EXAMPLES["astronomy"], "cooking": EXAMPLES["cooking"]},
    )
    response = llm.chat(user(COOKING_Q))
    assert response.message.content
    decision = response.additional_kwargs[DECISION_KEY]
    assert decision["expert"] == "astronomy"
    assert decision["fallback_from"] == ["cooking"]


def test_a_request_the_server_rejects_is_not_retried_elsewhere(routed: IR3DELLM) -> None:
    too_long = COOKING_Q + " knead" * 3000  # over the server's 2048-token context: HTTP 400
    with routing_events() as events, pytest.raises(openai.BadRequestError) as info:
        routed.chat(user(too_long))
    assert info.value.status_code == 400
    assert events == []  # no expert answered, and no other expert was tried


def test_a_cost_aware_policy_routes_real_calls(routed: IR3DELLM) -> None:
    prices = {"astronomy": 0.0, "cooking": 1.0}
    policy = RoutingPolicy(prices=prices, price_unit="query", lam=1.0)
    thrifty = IR3DELLM(router=routed.router, experts=routed.experts, policy=policy)
    with routing_events() as events:
        response = thrifty.chat(user(COOKING_Q))
    assert response.message.content
    decision = response.additional_kwargs[DECISION_KEY]
    assert (decision["expert"], decision["rule"], decision["cost"]) == ("astronomy", "cost", 0.0)
    assert decision["probabilities"]["cooking"] > decision["probabilities"]["astronomy"]
    assert events[0].decision == decision
    careful = IR3DELLM(
        router=routed.router,
        experts=routed.experts,
        policy=RoutingPolicy(threshold=1.0, default="astronomy"),
    )
    reply = careful.chat(user(COOKING_Q))
    assert reply.additional_kwargs[DECISION_KEY]["rule"] == "default"
    assert reply.additional_kwargs[DECISION_KEY]["expert"] == "astronomy"


def test_forced_tool_call_is_parsed_by_the_expert_that_made_it(routed: IR3DELLM) -> None:
    tool = FunctionTool.from_defaults(add)
    response = routed.chat_with_tools([tool], user_msg="What is 2 plus 3?", tool_choice="add")
    calls = routed.get_tool_calls_from_response(response)
    assert [c.tool_name for c in calls] == ["add"]
    assert isinstance(calls[0].tool_kwargs, dict)
    assert response.additional_kwargs[DECISION_KEY]["expert"] in routed.experts


def test_query_engine_with_the_routed_llm(routed: IR3DELLM, embed_model: IR3DEEmbedding) -> None:
    docs = [Document(text=t) for t in DOCUMENTS["cooking"]]
    index = VectorStoreIndex.from_documents(docs, embed_model=embed_model)
    engine = index.as_query_engine(llm=routed, similarity_top_k=1)
    with routing_events() as events:
        response = engine.query(COOKING_Q)
    assert str(response).strip()
    assert [e.decision["expert"] for e in events] == ["cooking"]
    assert events[0].decision == routed.route(COOKING_Q).to_dict()  # the query, not the prompt


def test_a_thread_keeps_its_expert_with_a_real_server(routed: IR3DELLM) -> None:
    follow_up = "Can you explain it again?"  # leans to cooking, without astronomy's certainty
    leaning = routed.route(follow_up)
    assert leaning.expert == "cooking" and leaning.confidence < routed.route(SPACE_Q).confidence
    wary = routed.model_copy(update={"switch_confidence": (1.0 + leaning.confidence) / 2})
    first = wary.chat(user(SPACE_Q))
    thread = [*user(SPACE_Q), first.message, *user(follow_up)]
    second = wary.chat(thread)  # the server never sees the decision stamped on first.message
    assert second.message.content
    decision = second.additional_kwargs[DECISION_KEY]
    assert (decision["expert"], decision["rule"]) == ("astronomy", "sticky")
    assert (
        routed.model_copy(update={"switch_confidence": None})
        .chat(thread)
        .additional_kwargs[DECISION_KEY]["expert"]
        == "cooking"
    )  # decided afresh, the same turn moves


async def test_react_agent_with_the_routed_llm(routed: IR3DELLM) -> None:
    agent = ReActAgent(tools=[FunctionTool.from_defaults(add)], llm=routed)
    with routing_events() as events:
        result = await agent.run(user_msg="What is 2 plus 3?")
    assert isinstance(str(result), str)
    assert events
    assert {e.decision["expert"] for e in events} <= {"astronomy", "cooking"}
