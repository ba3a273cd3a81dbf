"""IR3DELLM inside query engines routes on the user's query, not on the prompt around it.

Real LlamaIndex indexes (embedded with IR3DEEmbedding("hashing")), query engines, response
synthesizers and RouterQueryEngine; the experts replay recorded replies or are MockLLMs.
"""

from __future__ import annotations

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.bridge.pydantic import BaseModel
from llama_index.core.llms import MockLLM
from llama_index.core.prompts import PromptTemplate
from llama_index.core.prompts.chat_prompts import CHAT_TEXT_QA_PROMPT
from llama_index.core.prompts.default_prompts import DEFAULT_REFINE_PROMPT, DEFAULT_TEXT_QA_PROMPT
from llama_index.core.query_engine import RouterQueryEngine
from llama_index.core.tools import QueryEngineTool

from ir3de_llamaindex import DECISION_KEY, IR3DELLM, IR3DEEmbedding, IR3DESelector
from ir3de_llamaindex._queries import query_in_text, template_query
from tests.llamaindex.corpus import DESCRIPTIONS, DOCUMENTS, EXAMPLES
from tests.llamaindex.recorded import recorded, routing_events, tool_call

SUN_Q = "Is the Sun a star?"  # astronomy alone; cooking inside the cooking QA prompt (old code)


@pytest.fixture(scope="module")
def kitchen() -> VectorStoreIndex:
    """A real vector index over the cooking documents, embedded without any model."""
    docs = [Document(text=t, metadata={"base": "cooking"}) for t in DOCUMENTS["cooking"]]
    return VectorStoreIndex.from_documents(docs, embed_model=IR3DEEmbedding("hashing"))


def space_and_kitchen(*, chat: bool = True) -> IR3DELLM:
    """Astronomy and cooking experts: recorded chat models, or MockLLM completion models."""
    if chat:
        experts = {"astronomy": recorded("astronomy")[0], "cooking": recorded("cooking")[0]}
    else:
        experts = {"astronomy": MockLLM(max_tokens=4), "cooking": MockLLM(max_tokens=4)}
    return IR3DELLM.from_examples(experts, {n: EXAMPLES[n] for n in experts})  # type: ignore[arg-type]


def test_the_whole_qa_prompt_would_go_to_the_wrong_expert(kitchen: VectorStoreIndex) -> None:
    llm = space_and_kitchen()
    context = "\n\n".join(DOCUMENTS["cooking"])
    prompt = DEFAULT_TEXT_QA_PROMPT.format(context_str=context, query_str=SUN_Q)
    assert llm.router.route([prompt])[0].expert == "cooking"  # what the old code routed on
    assert llm.route(SUN_Q).expert == "astronomy"
    assert llm.route(prompt).to_dict() == llm.route(SUN_Q).to_dict()  # the query is cut out


@pytest.mark.parametrize("chat", [True, False], ids=["chat", "complete"])
@pytest.mark.parametrize(
    "mode", ["compact", "refine", "tree_summarize", "simple_summarize", "accumulate"]
)
def test_query_engine_routes_on_the_query(kitchen: VectorStoreIndex, chat: bool, mode: str) -> None:
    llm = space_and_kitchen(chat=chat)
    engine = kitchen.as_query_engine(llm=llm, similarity_top_k=3, response_mode=mode)
    with routing_events() as events:
        response = engine.query(SUN_Q)
    assert {n.node.metadata["base"] for n in response.source_nodes} == {"cooking"}
    expected = llm.route(SUN_Q).to_dict()
    assert events and all(e.decision == expected for e in events)
    assert expected["expert"] == "astronomy"
    assert events[0].method == ("chat" if chat else "complete")


async def test_async_and_streaming_query_engines_route_on_the_query(
    kitchen: VectorStoreIndex,
) -> None:
    llm = space_and_kitchen()
    expected = llm.route(SUN_Q).to_dict()
    with routing_events() as events:
        await kitchen.as_query_engine(llm=llm, similarity_top_k=2).aquery(SUN_Q)
        streamed = kitchen.as_query_engine(llm=llm, streaming=True).query(SUN_Q)
        text = "".join(streamed.response_gen)  # type: ignore[union-attr]
        astreamed = await kitchen.as_query_engine(llm=llm, streaming=True).aquery(SUN_Q)
        atext = "".join([t async for t in astreamed.async_response_gen()])  # type: ignore[union-attr]
    assert text == atext == "astronomy answers"
    assert [e.method for e in events] == ["achat", "stream_chat", "astream_chat"]
    assert all(e.decision == expected for e in events)


def test_a_custom_qa_template_routes_on_its_query_str(kitchen: VectorStoreIndex) -> None:
    llm = space_and_kitchen()
    template = PromptTemplate("Notes:\n{context_str}\nQ: {query_str}\nA:")
    engine = kitchen.as_query_engine(llm=llm, text_qa_template=template)
    with routing_events() as events:
        engine.query(SUN_Q)
    assert [e.decision for e in events] == [llm.route(SUN_Q).to_dict()]


def test_the_issue_example_routes_like_the_bare_question() -> None:
    math, _ = recorded("math")
    general, _ = recorded("general")
    llm = IR3DELLM.from_examples(
        {"math": math, "general": general},
        {
            "math": ["What is 12 times 7?", "Integrate x squared"],
            "general": ["Write a haiku about rain", "Who wrote Hamlet?"],
        },
    )
    question = "What is 12 times 7?"
    docs = [Document(text="Multiplication is repeated addition."), Document(text="Hamlet.")]
    index = VectorStoreIndex.from_documents(docs, embed_model=IR3DEEmbedding("hashing"))
    inside = DEFAULT_TEXT_QA_PROMPT.format(context_str=docs[0].text, query_str=question)
    old = llm.router.route([inside])[0].scores
    with routing_events() as events:
        index.as_query_engine(llm=llm).query(question)
    scores = events[0].decision["scores"]
    assert scores == pytest.approx(llm.route(question).scores)
    # the template's words dilute the question: the margin for math is wider on the question
    assert scores["math"] - scores["general"] > 1.5 * (old["math"] - old["general"])
    assert events[0].decision == llm.route(question).to_dict()


def test_router_query_engine_summarises_on_the_query(kitchen: VectorStoreIndex) -> None:
    llm = space_and_kitchen()
    docs = [Document(text=t, metadata={"base": "astronomy"}) for t in DOCUMENTS["astronomy"]]
    space = VectorStoreIndex.from_documents(docs, embed_model=IR3DEEmbedding("hashing"))
    tools = [
        QueryEngineTool.from_defaults(
            index.as_query_engine(llm=llm, similarity_top_k=1),
            name=name,
            description=DESCRIPTIONS[name],
        )
        for name, index in (("astronomy", space), ("cooking", kitchen))
    ]
    selector = IR3DESelector(examples={n: EXAMPLES[n] for n in ("astronomy", "cooking")}, top_k=2)
    engine = RouterQueryEngine(selector=selector, query_engine_tools=tools, llm=llm)
    question = "Which star is closest, and which rice suits risotto?"
    with routing_events() as events:
        response = engine.query(question)
    assert len(response.metadata["selector_result"].inds) == 2
    assert len(events) == 3  # each engine's answer, then the summary of both
    assert all(e.decision == llm.route(question).to_dict() for e in events)


class Answer(BaseModel):
    """An answer and the expert's confidence in it."""

    text: str


def test_structured_predict_routes_on_the_query() -> None:
    space, space_log = recorded("astronomy", [tool_call("Answer", text="yes")])
    cook, cook_log = recorded("cooking")
    llm = IR3DELLM.from_examples(
        {"astronomy": space, "cooking": cook}, {n: EXAMPLES[n] for n in ("astronomy", "cooking")}
    )
    template = PromptTemplate("Recipes:\n{context_str}\nAnswer the question: {query_str}")
    context = "\n".join(DOCUMENTS["cooking"])
    answer = llm.structured_predict(Answer, template, context_str=context, query_str=SUN_Q)
    assert answer == Answer(text="yes")
    assert len(space_log.calls) == 1 and cook_log.calls == []


def test_the_query_of_a_template_or_of_a_formatted_prompt() -> None:
    assert (
        template_query(DEFAULT_TEXT_QA_PROMPT, {"query_str": " Why? ", "context_str": "c"})
        == "Why?"
    )
    condense = PromptTemplate("{chat_history}\nFollow up: {question}")
    assert template_query(condense, {"question": "And Mars?", "chat_history": "..."}) == "And Mars?"
    assert template_query(PromptTemplate("{topic}"), {"topic": "cats"}) is None
    partial = DEFAULT_TEXT_QA_PROMPT.partial_format(query_str="Is it hot?")
    assert template_query(partial, {"context_str": "c"}) == "Is it hot?"
    refine = DEFAULT_REFINE_PROMPT.format(query_str=SUN_Q, existing_answer="Yes.", context_msg="c")
    assert query_in_text(refine) == SUN_Q
    messages = CHAT_TEXT_QA_PROMPT.format_messages(context_str="Risotto.", query_str=SUN_Q)
    assert [query_in_text(m.content or "") for m in messages] == [None, SUN_Q]
    assert query_in_text("Query: without the rest of a template") is None
    llm = space_and_kitchen()
    reply = llm.chat(messages)
    assert reply.additional_kwargs[DECISION_KEY] == llm.route(SUN_Q).to_dict()
    plain = [ChatMessage(role=MessageRole.USER, content="Query: how do I bake bread?")]
    assert llm.route(plain).expert == "cooking"
