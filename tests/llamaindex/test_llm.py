"""IR3DELLM with recorded experts: routing, the policy, the recorded decision, fallback, tools."""

from __future__ import annotations

import httpx
import openai
import pytest
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, MessageRole
from llama_index.core.llms import MockLLM
from llama_index.core.tools import FunctionTool
from llama_index.llms.openai_like import OpenAILike

from ir3de_core import ExpertError, IR3DERouter, NotFittedError, RoutingPolicy
from ir3de_core.decide.fallback import ExpertsFailedError
from ir3de_llamaindex import DECISION_KEY, IR3DELLM
from tests.llamaindex.corpus import EXAMPLES
from tests.llamaindex.recorded import recorded, routing_events, tool_call

COOKING_Q = "How long should I knead bread dough before baking it?"
SPACE_Q = "How far is Mars from the Sun and why is it red?"
# measured with the default (token) features and calibrated confidences:
VAGUE_Q = "How long does it take?"  # astronomy vs cooking: cooking, p ≈ 0.83
SATURN_CAKE_Q = (
    "How hot should the oven be to bake a cake shaped like Saturn?"  # cooking, then astronomy
)


def user(text: str) -> list[ChatMessage]:
    return [ChatMessage(role=MessageRole.USER, content=text)]


def routed(**experts: object) -> IR3DELLM:
    return IR3DELLM.from_examples(experts, {name: EXAMPLES[name] for name in experts})  # type: ignore[arg-type]


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def http_error(status: int) -> openai.APIStatusError:
    """The error the OpenAI client raises for an HTTP `status` from an expert's server."""
    request = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
    response = httpx.Response(status, request=request)
    kind = openai.BadRequestError if status == 400 else openai.InternalServerError
    return kind(f"HTTP {status}", response=response, body=None)


def test_chat_goes_to_the_topic_expert_and_records_the_decision() -> None:
    space, space_log = recorded("astronomy")
    cook, cook_log = recorded("cooking")
    llm = routed(astronomy=space, cooking=cook)
    with routing_events() as events:
        response = llm.chat(user(COOKING_Q))
    assert response.message.content == "cooking answers"
    assert len(cook_log.calls) == 1
    assert space_log.calls == []
    decision = response.additional_kwargs[DECISION_KEY]
    assert decision["expert"] == "cooking"
    assert set(decision["scores"]) == {"astronomy", "cooking"}
    assert decision["scores"]["cooking"] > decision["scores"]["astronomy"]
    assert decision["fallback_from"] == []
    assert [(e.method, e.decision["expert"]) for e in events] == [("chat", "cooking")]
    assert llm.route(user(SPACE_Q)).expert == "astronomy"


@pytest.mark.parametrize("method", ["complete", "stream_complete", "stream_chat"])
def test_sync_forms_are_routed_and_stamped(method: str) -> None:
    llm = routed(astronomy=recorded("astronomy")[0], cooking=recorded("cooking")[0])
    arg = SPACE_Q if "complete" in method else user(SPACE_Q)
    with routing_events() as events:
        out = getattr(llm, method)(arg)
        chunks = list(out) if method.startswith("stream") else [out]
    assert chunks
    assert all(c.additional_kwargs[DECISION_KEY]["expert"] == "astronomy" for c in chunks)
    assert [e.method for e in events] == [method]


@pytest.mark.parametrize("method", ["achat", "acomplete", "astream_chat", "astream_complete"])
async def test_async_forms_are_routed_and_stamped(method: str) -> None:
    llm = routed(astronomy=recorded("astronomy")[0], cooking=recorded("cooking")[0])
    arg = COOKING_Q if "complete" in method else user(COOKING_Q)
    out = await getattr(llm, method)(arg)
    chunks = [c async for c in out] if "stream" in method else [out]
    assert chunks
    assert all(c.additional_kwargs[DECISION_KEY]["expert"] == "cooking" for c in chunks)
    if method == "astream_chat":
        assert chunks[-1].message.content == "cooking answers"


def test_metadata_is_conservative_across_experts() -> None:
    small = OpenAILike(
        model="m",
        api_base="http://127.0.0.1:9/v1",
        api_key="x",
        context_window=2048,
        max_tokens=64,
        is_chat_model=True,
        is_function_calling_model=True,
    )
    big, _ = recorded("cooking")
    both = routed(astronomy=small, cooking=big).metadata
    assert both.context_window == 2048
    assert both.num_output == 64
    assert both.is_function_calling_model is True
    assert both.is_chat_model is True
    assert both.model_name == "ir3de:astronomy|cooking"
    plain = routed(astronomy=small, cooking=MockLLM(max_tokens=8)).metadata
    assert plain.is_function_calling_model is False
    assert plain.is_chat_model is False


def test_a_failing_expert_falls_back_to_the_next_best() -> None:
    broken, _ = recorded("cooking", fail=ConnectionError("endpoint down"))
    space, space_log = recorded("astronomy")
    llm = routed(astronomy=space, cooking=broken)
    with routing_events() as events:
        response = llm.chat(user(COOKING_Q))
    assert response.message.content == "astronomy answers"
    decision = response.additional_kwargs[DECISION_KEY]
    assert decision["expert"] == "astronomy"
    assert decision["fallback_from"] == ["cooking"]
    assert events[0].decision["fallback_from"] == ["cooking"]
    assert len(space_log.calls) == 1


async def test_async_and_streaming_fall_back_before_the_first_chunk() -> None:
    broken, _ = recorded("cooking", fail=TimeoutError("slow"))
    llm = routed(astronomy=recorded("astronomy")[0], cooking=broken)
    response = await llm.achat(user(COOKING_Q))
    assert response.additional_kwargs[DECISION_KEY]["fallback_from"] == ["cooking"]
    chunks = list(llm.stream_chat(user(COOKING_Q)))
    assert chunks[-1].message.content == "astronomy answers"
    assert chunks[-1].additional_kwargs[DECISION_KEY]["fallback_from"] == ["cooking"]
    achunks = [c async for c in await llm.astream_chat(user(COOKING_Q))]
    assert achunks[-1].additional_kwargs[DECISION_KEY]["expert"] == "astronomy"


def test_every_expert_failing_raises_with_each_error() -> None:
    a, _ = recorded("astronomy", fail=ConnectionError("a down"))
    c, _ = recorded("cooking", fail=ConnectionError("c down"))
    with pytest.raises(ExpertsFailedError, match="a down") as info:
        routed(astronomy=a, cooking=c).chat(user(COOKING_Q))
    assert set(info.value.errors) == {"astronomy", "cooking"}
    one_try = IR3DELLM(router=routed(astronomy=a, cooking=c).router, experts={"astronomy": a, "cooking": c}, max_attempts=1)  # fmt: skip
    with pytest.raises(ExpertsFailedError) as info:
        one_try.chat(user(COOKING_Q))
    assert list(info.value.errors) == ["cooking"]


def test_chat_with_tools_and_tool_parsing_use_the_same_expert() -> None:
    cook, cook_log = recorded("cooking", [tool_call("add", a=2, b=3)])
    llm = routed(astronomy=recorded("astronomy")[0], cooking=cook)
    tool = FunctionTool.from_defaults(add)
    response = llm.chat_with_tools([tool], user_msg=COOKING_Q)
    assert response.additional_kwargs[DECISION_KEY]["expert"] == "cooking"
    assert cook_log.calls[0]["tools"] == [tool]
    calls = llm.get_tool_calls_from_response(response)
    assert [(c.tool_name, c.tool_kwargs) for c in calls] == [("add", {"a": 2, "b": 3})]
    outcome = llm.predict_and_call([tool], user_msg=COOKING_Q)
    assert outcome.response == "cooking answers"  # replies ran out: a text answer, no tool call


def test_tool_calls_only_go_to_function_calling_experts() -> None:
    cook, cook_log = recorded("cooking")
    llm = routed(astronomy=cook, cooking=MockLLM(max_tokens=4))
    tool = FunctionTool.from_defaults(add)
    response = llm.chat_with_tools([tool], user_msg=COOKING_Q)  # cooking wins but cannot call
    decision = response.additional_kwargs[DECISION_KEY]
    assert decision["expert"] == "astronomy"
    assert decision["fallback_from"] == []
    assert len(cook_log.calls) == 1
    only_plain = routed(astronomy=MockLLM(), cooking=MockLLM())
    with pytest.raises(ValueError, match="no expert can call tools"):
        only_plain.chat_with_tools([tool], user_msg=COOKING_Q)


def test_prepared_tool_requests_are_pinned_to_their_expert() -> None:
    cook, cook_log = recorded("cooking")
    llm = routed(astronomy=recorded("astronomy")[0], cooking=cook)
    tool = FunctionTool.from_defaults(add)
    prepared = llm._prepare_chat_with_tools([tool], user_msg=COOKING_Q)
    assert prepared["ir3de_expert"] == "cooking"
    response = llm.chat(**prepared)
    assert response.additional_kwargs[DECISION_KEY]["expert"] == "cooking"
    assert "ir3de_expert" not in cook_log.calls[0]


def test_a_foreign_response_is_parsed_by_the_first_tool_calling_expert() -> None:
    llm = routed(astronomy=recorded("astronomy")[0], cooking=recorded("cooking")[0])
    foreign = ChatResponse(message=tool_call("add", a=1, b=1))
    assert llm.get_tool_calls_from_response(foreign)[0].tool_kwargs == {"a": 1, "b": 1}


def test_route_on_reads_the_last_user_message_or_the_whole_conversation() -> None:
    llm = routed(astronomy=recorded("astronomy")[0], cooking=recorded("cooking")[0])
    chat = [
        ChatMessage(role=MessageRole.USER, content=SPACE_Q),
        ChatMessage(role=MessageRole.ASSISTANT, content="It is far."),
        ChatMessage(role=MessageRole.USER, content=COOKING_Q),
    ]
    assert llm.route(chat).expert == "cooking"
    whole = IR3DELLM(router=llm.router, experts=llm.experts, route_on="conversation")
    assert set(whole.route(chat).scores) == {"astronomy", "cooking"}
    assert whole._turn(chat).text.startswith(SPACE_Q)


def test_bad_input_is_rejected_with_the_fix() -> None:
    a, _ = recorded("astronomy")
    c, _ = recorded("cooking")
    with pytest.raises(NotFittedError, match="router is not fitted"):
        IR3DELLM(router=IR3DERouter("hashing"), experts={"astronomy": a})
    router = routed(astronomy=a, cooking=c).router
    with pytest.raises(ExpertError, match=r"routes to \['cooking'\] but experts has no LLM"):
        IR3DELLM(router=router, experts={"astronomy": a})
    with pytest.raises(ExpertError, match=r"LLMs for \['travel'\], which the router never"):
        IR3DELLM(router=router, experts={"astronomy": a, "cooking": c, "travel": c})
    with pytest.raises(TypeError, match="experts must map each expert name"):
        IR3DELLM(router=router, experts={})
    with pytest.raises(TypeError, match="router must be a fitted IR3DERouter"):
        IR3DELLM(router="router.json", experts={"astronomy": a})
    llm = IR3DELLM(router=router, experts={"astronomy": a, "cooking": c})
    with pytest.raises(ValueError, match="no text to route on"):
        llm.chat([ChatMessage(role=MessageRole.USER, content="  ")])
    assert IR3DELLM.class_name() == "IR3DELLM"


# ---------------------------------------------------------------------------- the policy
def test_a_cost_aware_policy_is_honoured_and_recorded() -> None:
    space, space_log = recorded("astronomy")
    cook, cook_log = recorded("cooking")
    base = routed(astronomy=space, cooking=cook)
    p_cooking = base.route(COOKING_Q).probabilities["cooking"]  # ≈ 1.0: cooking is best
    policy = RoutingPolicy(prices={"astronomy": 0.0, "cooking": 1.0}, price_unit="query", lam=1.0)
    llm = IR3DELLM(router=base.router, experts=base.experts, policy=policy)
    assert llm.active_policy is policy
    with routing_events() as events:
        response = llm.chat(user(COOKING_Q))
    decision = response.additional_kwargs[DECISION_KEY]
    assert p_cooking - 1.0 < 1.0 - p_cooking  # quality − λ·cost is higher for astronomy
    assert (decision["expert"], decision["rule"]) == ("astronomy", "cost")
    assert decision["costs"] == {"astronomy": 0.0, "cooking": 1.0}
    assert decision["cost"] == 0.0
    assert decision["lam"] == 1.0
    assert decision["predicted_quality"] is None  # a domain router predicts no quality
    assert decision["probabilities"]["cooking"] == pytest.approx(p_cooking)
    assert events[0].decision == decision
    assert len(space_log.calls) == 1 and cook_log.calls == []
    half = IR3DELLM(router=base.router, experts=base.experts, policy=policy.replace(lam=0.2))
    assert half.route(COOKING_Q).expert == "cooking"  # p − 0.2 > 1 − p: still worth it
    assert half.route(COOKING_Q).rule == "cost"


def test_below_the_threshold_the_default_expert_answers() -> None:
    space, space_log = recorded("astronomy")
    llm = routed(astronomy=space, cooking=recorded("cooking")[0])
    confidence = llm.route(VAGUE_Q).confidence
    assert 0.5 < confidence < 0.9
    unsure = RoutingPolicy(threshold=0.9, default="astronomy")
    strict = IR3DELLM(router=llm.router, experts=llm.experts, policy=unsure)
    with routing_events() as events:
        response = strict.chat(user(VAGUE_Q))
    decision = response.additional_kwargs[DECISION_KEY]
    assert (decision["expert"], decision["rule"], decision["threshold"]) == (
        "astronomy",
        "default",
        0.9,
    )
    assert events[0].decision["rule"] == "default"
    assert response.message.content == "astronomy answers"
    assert len(space_log.calls) == 1
    confident = strict.route(SPACE_Q)
    assert (confident.expert, confident.rule) == ("astronomy", "best")
    assert strict.route(user(SPACE_Q)).confidence > 0.9


def test_without_a_policy_the_routers_policy_decides() -> None:
    llm = routed(astronomy=recorded("astronomy")[0], cooking=recorded("cooking")[0])
    assert llm.policy is None and llm.active_policy == RoutingPolicy()
    llm.router.set_policy(RoutingPolicy(threshold=0.9, default="astronomy"))
    assert llm.active_policy.threshold == 0.9
    response = llm.chat(user(VAGUE_Q))
    assert response.additional_kwargs[DECISION_KEY]["rule"] == "default"
    assert (
        IR3DELLM(router=llm.router, experts=llm.experts, policy={"lam": 0.0}).route(VAGUE_Q).expert
        == "cooking"
    )  # a policy given as a dict replaces the router's
    with pytest.raises(ValueError, match="lam must be a finite number"):
        IR3DELLM(router=llm.router, experts=llm.experts, policy={"lam": -1.0})


def test_a_pinned_tool_request_is_forced_and_not_moved() -> None:
    broken, _ = recorded("cooking", fail=ConnectionError("down"))
    space, space_log = recorded("astronomy")
    llm = routed(astronomy=space, cooking=broken)
    prepared = llm._prepare_chat_with_tools([FunctionTool.from_defaults(add)], user_msg=SPACE_Q)
    with routing_events() as events:
        response = llm.chat(**{**prepared, "messages": user(COOKING_Q)})  # cooking would win
    decision = response.additional_kwargs[DECISION_KEY]
    assert (decision["expert"], decision["rule"]) == ("astronomy", "forced")
    assert decision["probabilities"]["cooking"] > decision["probabilities"]["astronomy"]
    assert events[0].decision["rule"] == "forced"
    pinned = llm._prepare_chat_with_tools([FunctionTool.from_defaults(add)], user_msg=COOKING_Q)
    assert pinned["ir3de_expert"] == "cooking"
    with pytest.raises(ExpertsFailedError) as info:  # prepared for cooking: no other expert
        llm.chat(**pinned)
    assert list(info.value.errors) == ["cooking"]
    assert len(space_log.calls) == 1


# ---------------------------------------------------------------------------- fallback
def test_fallback_is_the_policy_deciding_again_without_the_failed_expert() -> None:
    broken, _ = recorded("cooking", fail=http_error(503))
    space, space_log = recorded("astronomy")
    trip, trip_log = recorded("travel")
    names = ("astronomy", "cooking", "travel")
    base = IR3DELLM.from_examples(
        {"astronomy": space, "cooking": broken, "travel": trip}, {n: EXAMPLES[n] for n in names}
    )
    p = base.route(SATURN_CAKE_Q).probabilities
    assert p["cooking"] > p["astronomy"] > p["travel"]  # the next-best score is astronomy
    prices = {"astronomy": 1.0, "cooking": 0.0, "travel": 0.0}
    policy = RoutingPolicy(prices=prices, price_unit="query", lam=0.5)
    llm = IR3DELLM(router=base.router, experts=base.experts, policy=policy)
    assert llm.route(SATURN_CAKE_Q).expert == "cooking"
    response = llm.chat(user(SATURN_CAKE_Q))
    decision = response.additional_kwargs[DECISION_KEY]
    assert p["astronomy"] - 0.5 < p["travel"]  # but the policy prefers travel once cooking fails
    assert (decision["expert"], decision["rule"]) == ("travel", "cost")
    assert decision["fallback_from"] == ["cooking"]
    assert space_log.calls == [] and len(trip_log.calls) == 1


@pytest.mark.parametrize("error", [http_error(400), ValueError("bad tool schema")])
async def test_a_non_transient_error_is_not_retried(error: Exception) -> None:
    broken, _ = recorded("cooking", fail=error)
    space, space_log = recorded("astronomy")
    llm = routed(astronomy=space, cooking=broken)
    with routing_events() as events, pytest.raises(type(error)) as info:
        llm.chat(user(COOKING_Q))
    assert info.value is error  # propagated unchanged
    with pytest.raises(type(error)):
        await llm.achat(user(COOKING_Q))
    with pytest.raises(type(error)):
        list(llm.stream_chat(user(COOKING_Q)))
    assert space_log.calls == [] and events == []


def test_fallback_on_decides_which_failures_move_to_another_expert() -> None:
    space, space_log = recorded("astronomy")
    bad_request, _ = recorded("cooking", fail=http_error(400))
    base = routed(astronomy=space, cooking=bad_request)
    tolerant = IR3DELLM(
        router=base.router,
        experts=base.experts,
        fallback_on=lambda e: isinstance(e, openai.APIError),
    )
    response = tolerant.chat(user(COOKING_Q))
    assert response.additional_kwargs[DECISION_KEY]["fallback_from"] == ["cooking"]
    assert len(space_log.calls) == 1
    down, _ = recorded("cooking", fail=ConnectionError("down"))
    never = IR3DELLM(router=base.router, experts={"astronomy": space, "cooking": down}, fallback_on=lambda e: False)  # fmt: skip
    with pytest.raises(ConnectionError, match="down"):
        never.chat(user(COOKING_Q))
    assert len(space_log.calls) == 1
