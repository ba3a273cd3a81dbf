"""Conversations keep their expert unless a turn is confidently another's (`switch_confidence`).

Real LlamaIndex chat engines, memory and agents; the experts replay recorded replies.
"""

from __future__ import annotations

import copy
import pickle

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.agent.workflow import FunctionAgent, ReActAgent
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.bridge.pydantic import ValidationError
from llama_index.core.chat_engine import ContextChatEngine, SimpleChatEngine
from llama_index.core.llms import MockLLM
from llama_index.core.memory import Memory
from llama_index.core.tools import FunctionTool

from ir3de_core import IR3DERouter, SentenceFeaturizer
from ir3de_llamaindex import DECISION_KEY, IR3DELLM, IR3DEEmbedding
from ir3de_llamaindex._conversation import ReplyLog
from tests.llamaindex.corpus import DOCUMENTS, EXAMPLES, LABELLED_QUERIES
from tests.llamaindex.recorded import Recorded, recorded, routing_events, tool_call

MATH_EXAMPLES = ["What is 12 plus 30?", "Multiply 6 by 7", "add 5 and 9", "what is 3 times 4"]
# Confidences measured with hashing features (set below: the mechanics are tested on numbers
# pinned here, not on the default featurizer's; docs/llamaindex.md has those)
SUM_Q = "What is 2 plus 3?"  # math, p = 0.99
VAGUE_Q = "Can you explain it again?"  # cooking, p = 0.77 < 0.8: not enough to move a thread
STARTER_Q = "How do I make a sourdough starter?"  # cooking, p = 1.00
FOLLOW_UPS = [
    "Thanks! Can you say more?",
    "Why?",
    "And what about the second one?",
    "Can you make that shorter?",
    "ok, and how long does that take?",
    "Is that expensive?",
    "What do you mean?",
    "Could you give an example?",
    "thanks",
    "How much of it do I need?",
    "Explain it like I'm five.",
    "Are you sure?",
]


def add(a: int, b: int) -> int:
    """Add two integers and return the sum."""
    return a + b


def math_and_cooking(
    math_replies: list[ChatMessage] | None = None, **fields: object
) -> tuple[IR3DELLM, Recorded, Recorded]:
    math, math_log = recorded("math", math_replies)
    cook, cook_log = recorded("cooking")
    llm = IR3DELLM.from_examples(
        {"math": math, "cooking": cook},
        {"math": MATH_EXAMPLES, "cooking": EXAMPLES["cooking"]},
        featurizer="hashing",
        **fields,
    )
    return llm, math_log, cook_log


def user(text: str) -> ChatMessage:
    return ChatMessage(role=MessageRole.USER, content=text)


def test_the_turns_measured_here() -> None:
    llm, _, _ = math_and_cooking(switch_confidence=None)
    assert (llm.route(SUM_Q).expert, llm.route(SUM_Q).confidence) == (
        "math",
        pytest.approx(0.99, abs=0.01),
    )
    vague = llm.route(VAGUE_Q)
    assert vague.expert == "cooking" and 0.7 < vague.confidence < 0.8
    assert llm.route(STARTER_Q).confidence > 0.99


def test_a_chat_keeps_its_expert_until_a_turn_is_confidently_another() -> None:
    llm, math_log, cook_log = math_and_cooking()
    assert llm.switch_confidence == 0.8
    engine = SimpleChatEngine.from_defaults(llm=llm)
    with routing_events() as events:
        replies = [str(engine.chat(q)) for q in (SUM_Q, VAGUE_Q, STARTER_Q, VAGUE_Q)]
    assert replies == ["math answers", "math answers", "cooking answers", "cooking answers"]
    decided = [(e.decision["expert"], e.decision["rule"]) for e in events]
    assert decided == [
        ("math", "best"),
        ("math", "sticky"),
        ("cooking", "best"),
        ("cooking", "best"),
    ]
    assert events[1].decision["probabilities"]["cooking"] > 0.7  # the scores are kept
    history = engine.chat_history
    assert history[1].additional_kwargs[DECISION_KEY]["expert"] == "math"
    sent = [m for call in math_log.calls + cook_log.calls for m in call["messages"]]
    assert all(DECISION_KEY not in m.additional_kwargs for m in sent)  # experts never see it


@pytest.mark.parametrize(("switch", "second"), [(None, "cooking"), (0.7, "cooking"), (1.0, "math")])
def test_switch_confidence_sets_how_sure_a_turn_must_be(switch: float | None, second: str) -> None:
    llm, _, _ = math_and_cooking(switch_confidence=switch)
    engine = SimpleChatEngine.from_defaults(llm=llm)
    with routing_events() as events:
        for question in (SUM_Q, VAGUE_Q, STARTER_Q):
            engine.chat(question)
    experts = [e.decision["expert"] for e in events]
    assert experts == ["math", second, "math" if switch == 1.0 else "cooking"]


async def test_a_chat_engine_that_stores_plain_text_keeps_its_expert() -> None:
    llm, _, _ = math_and_cooking()
    docs = [Document(text=t) for t in DOCUMENTS["cooking"]]
    index = VectorStoreIndex.from_documents(docs, embed_model=IR3DEEmbedding("hashing"))
    engine = ContextChatEngine.from_defaults(index.as_retriever(similarity_top_k=1), llm=llm)
    with routing_events() as events:
        engine.chat(SUM_Q)
        await engine.achat(VAGUE_Q)
    history = engine.chat_history
    assert DECISION_KEY not in history[1].additional_kwargs  # rebuilt from the reply's text
    assert [(e.decision["expert"], e.decision["rule"]) for e in events] == [
        ("math", "best"),
        ("math", "sticky"),
    ]


@pytest.mark.parametrize("streaming", [True, False])
async def test_an_agent_keeps_its_expert_across_runs_and_tool_loops(streaming: bool) -> None:
    done = ChatMessage(role=MessageRole.ASSISTANT, content="2 plus 3 is 5.")
    llm, math_log, cook_log = math_and_cooking([tool_call("add", a=2, b=3), done])
    agent = FunctionAgent(tools=[FunctionTool.from_defaults(add)], llm=llm, streaming=streaming)
    memory = Memory.from_defaults(session_id="thread")  # one thread, run after run
    with routing_events() as events:
        first = await agent.run(user_msg=SUM_Q, memory=memory)
        second = await agent.run(user_msg=VAGUE_Q, memory=memory)
        third = await agent.run(user_msg=STARTER_Q, memory=memory)
    assert (str(first), str(second), str(third)) == (
        "2 plus 3 is 5.",
        "math answers",
        "cooking answers",
    )
    decided = [(e.decision["expert"], e.decision["rule"]) for e in events]
    assert decided == [("math", "best"), ("math", "best"), ("math", "sticky"), ("cooking", "best")]
    assert len(math_log.calls) == 3 and len(cook_log.calls) == 1
    history = cook_log.calls[0]["messages"]
    assert any(m.role == MessageRole.TOOL for m in history)  # the whole thread went along
    assert all(DECISION_KEY not in m.additional_kwargs for m in history)


async def test_a_react_agent_keeps_its_expert_across_runs() -> None:
    action = 'Thought: I need to add.\nAction: add\nAction Input: {"a": 2, "b": 3}'
    answer = "Thought: I can answer without using any more tools.\nAnswer: 5"
    replies = [ChatMessage(role=MessageRole.ASSISTANT, content=t) for t in (action, answer)]
    llm, math_log, _ = math_and_cooking(replies)
    agent = ReActAgent(tools=[FunctionTool.from_defaults(add)], llm=llm)
    memory = Memory.from_defaults(session_id="thread")
    with routing_events() as events:
        await agent.run(user_msg=SUM_Q, memory=memory)
        await agent.run(user_msg=VAGUE_Q, memory=memory)
    assert [e.decision["rule"] for e in events] == ["best", "best", "sticky"]
    assert {e.decision["expert"] for e in events} == {"math"}
    assert len(math_log.calls) == 3


def test_a_tool_loop_keeps_its_expert_whatever_the_confidence() -> None:
    llm, _, _ = math_and_cooking(switch_confidence=None)
    asked = tool_call("add", a=2, b=3)
    asked.additional_kwargs[DECISION_KEY] = {"expert": "cooking"}  # e.g. after a fallback
    result = ChatMessage(
        role=MessageRole.TOOL, content="5", additional_kwargs={"tool_call_id": "call_1"}
    )
    decision = llm.route([user(SUM_Q), asked, result])
    assert (decision.expert, decision.rule) == ("cooking", "sticky")
    assert decision.probabilities["math"] > 0.98
    next_turn = llm.route([user(SUM_Q), asked, result, user(SUM_Q)])
    assert (next_turn.expert, next_turn.rule) == ("math", "best")  # switch_confidence=None


def test_only_this_llms_experts_are_kept() -> None:
    llm, _, _ = math_and_cooking()
    other = ChatMessage(
        role=MessageRole.ASSISTANT,
        content="hi",
        additional_kwargs={DECISION_KEY: {"expert": "gpt"}},
    )
    mine = llm.chat([user(SUM_Q)]).message
    decision = llm.route([user(SUM_Q), mine, user(SUM_Q), other, user(VAGUE_Q)])
    assert (decision.expert, decision.rule) == ("cooking", "best")  # the last turn is not ours
    plain = IR3DELLM(
        router=llm.router, experts={"math": MockLLM(), "cooking": llm.experts["cooking"]}
    )
    reply = plain.chat([user(SUM_Q)])
    tools = [FunctionTool.from_defaults(add)]
    response = plain.chat_with_tools(
        tools, user_msg=VAGUE_Q, chat_history=[user(SUM_Q), reply.message]
    )
    decision = response.additional_kwargs[DECISION_KEY]
    assert (decision["expert"], decision["rule"]) == ("cooking", "best")  # math cannot call tools


def test_the_messages_are_not_changed() -> None:
    llm, math_log, _ = math_and_cooking()
    reply = llm.chat([user(SUM_Q)])
    assert reply.message.additional_kwargs[DECISION_KEY] == reply.additional_kwargs[DECISION_KEY]
    thread = [user(SUM_Q), reply.message, user(VAGUE_Q)]
    llm.chat(thread)
    assert DECISION_KEY in thread[1].additional_kwargs
    assert DECISION_KEY not in math_log.calls[1]["messages"][1].additional_kwargs


def test_switch_confidence_is_validated() -> None:
    llm, _, _ = math_and_cooking()
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        IR3DELLM(router=llm.router, experts=llm.experts, switch_confidence=1.5)


def test_the_reply_log_is_bounded_and_matches_whole_or_final_replies() -> None:
    log = ReplyLog(size=2)
    log.add("  Mars is   red.  ", "astronomy")
    log.add("Thought: done.\nAnswer: knead for ten minutes", "cooking")
    assert log.expert_of("Mars is red.") == "astronomy"
    react = (
        "Thought: I need a tool.\nObservation: ok\nThought: done.\n  Answer: knead for ten minutes"
    )
    assert log.expert_of(react) == "cooking"
    log.add("5", "math")
    assert len(log) == 2 and log.expert_of("Mars is red.") is None  # the oldest is forgotten
    assert log.expert_of("the answer is 5") is None  # too short to match at the end
    assert log.expert_of("5") == "math"
    log.add(None, "math")
    log.add("   ", "math")
    assert len(log) == 2 and log.expert_of("") is None
    for copied in (copy.deepcopy(log), pickle.loads(pickle.dumps(log))):  # an LLM can be copied
        assert len(copied) == 2 and copied.expert_of("5") == "math"


def test_a_copied_llm_remembers_the_replies() -> None:
    llm, _, _ = math_and_cooking()
    reply = llm.chat([user(SUM_Q)])
    twin = llm.model_copy(deep=True)
    plain = ChatMessage(role=MessageRole.ASSISTANT, content=reply.message.content)
    decision = twin.route([user(SUM_Q), plain, user(VAGUE_Q)])
    assert (decision.expert, decision.rule) == ("math", "sticky")


def test_the_default_separates_new_topics_from_follow_ups(sentence: SentenceFeaturizer) -> None:
    prompts = [p for name in EXAMPLES for p in EXAMPLES[name]]
    labels = [name for name in EXAMPLES for _ in EXAMPLES[name]]
    router = IR3DERouter(sentence).fit(prompts, labels)
    threshold = IR3DELLM.model_fields["switch_confidence"].default
    topics = router.route([q for q, _ in LABELLED_QUERIES])
    switched = [
        d.expert == label and d.confidence >= threshold
        for d, (_, label) in zip(topics, LABELLED_QUERIES, strict=True)
    ]
    wrong = [
        d.expert != label and d.confidence >= threshold
        for d, (_, label) in zip(topics, LABELLED_QUERIES, strict=True)
    ]
    kept = [d.confidence < threshold for d in router.route(FOLLOW_UPS)]
    assert (sum(switched), sum(wrong), sum(kept)) == (23, 0, 11)  # of 30 questions, 12 follow-ups
