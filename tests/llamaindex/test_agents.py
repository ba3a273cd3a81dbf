"""IR3DELLM and IR3DEToolRetriever inside LlamaIndex agents and query engines (recorded experts).

The experts replay recorded replies (LlamaIndex's MockFunctionCallingLLM): the agents, tools,
memory and workflow are LlamaIndex's own and run for real.
"""

from __future__ import annotations

import pytest
from llama_index.core.agent.workflow import FunctionAgent, ReActAgent
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.indices.base import BaseIndex
from llama_index.core.tools import FunctionTool

from ir3de_llamaindex import IR3DELLM, IR3DESelector, IR3DEToolRetriever
from tests.llamaindex.corpus import EXAMPLES
from tests.llamaindex.recorded import recorded, routing_events, tool_call

MATH_EXAMPLES = ["What is 12 plus 30?", "Multiply 6 by 7", "add 5 and 9", "what is 3 times 4"]


def add(a: int, b: int) -> int:
    """Add two integers and return the sum."""
    return a + b


def multiply(a: int, b: int) -> int:
    """Multiply two integers and return the product."""
    return a * b


def convert_grams(grams: float) -> str:
    """Convert grams of flour to cups for a recipe."""
    return f"{grams / 120:.2f} cups"


TOOLS = [FunctionTool.from_defaults(f) for f in (add, multiply, convert_grams)]


def math_and_cooking(math_replies: list[ChatMessage]) -> tuple[IR3DELLM, list, list]:
    math, math_log = recorded("math", math_replies)
    cook, cook_log = recorded("cooking")
    llm = IR3DELLM.from_examples(
        {"math": math, "cooking": cook}, {"math": MATH_EXAMPLES, "cooking": EXAMPLES["cooking"]}
    )
    return llm, math_log.calls, cook_log.calls


@pytest.mark.parametrize("streaming", [True, False])
async def test_function_agent_runs_tools_through_the_routed_expert(streaming: bool) -> None:
    final = ChatMessage(role=MessageRole.ASSISTANT, content="2 plus 3 is 5.")
    llm, math_calls, cook_calls = math_and_cooking([tool_call("add", a=2, b=3), final])
    agent = FunctionAgent(tools=TOOLS, llm=llm, streaming=streaming)
    with routing_events() as events:
        result = await agent.run(user_msg="What is 2 plus 3?")
    assert str(result) == "2 plus 3 is 5."
    assert [(c.tool_name, c.tool_kwargs) for c in result.tool_calls] == [("add", {"a": 2, "b": 3})]
    assert result.tool_calls[0].tool_output.raw_output == 5
    assert len(math_calls) == 2 and cook_calls == []  # one expert for the whole tool loop
    tool_turn = math_calls[1]["messages"]
    assert any(m.role == MessageRole.TOOL and "5" in str(m.content) for m in tool_turn)
    assert [e.decision["expert"] for e in events] == ["math", "math"]


async def test_function_agent_with_a_tool_retriever_offers_only_the_selected_tools() -> None:
    final = ChatMessage(role=MessageRole.ASSISTANT, content="That is 2.08 cups.")
    cook, cook_log = recorded("cooking", [tool_call("convert_grams", grams=250), final])
    math, _ = recorded("math")
    llm = IR3DELLM.from_examples(
        {"math": math, "cooking": cook}, {"math": MATH_EXAMPLES, "cooking": EXAMPLES["cooking"]}
    )
    examples = {
        "add": ["add 2 and 3", "sum of 10 and 12"],
        "multiply": ["multiply 6 by 7", "what is 3 times 4"],
        "convert_grams": ["how many cups is 200 grams of flour", "grams of flour to cups"],
    }
    retriever = IR3DEToolRetriever(TOOLS, IR3DESelector(examples=examples, top_k=1))
    agent = FunctionAgent(tool_retriever=retriever.as_object_retriever(), llm=llm)
    result = await agent.run(user_msg="How many cups is 250 grams of flour for my bread?")
    assert str(result) == "That is 2.08 cups."
    assert result.tool_calls[0].tool_output.content == "2.08 cups"
    offered = [t.metadata.name for t in cook_log.calls[0]["tools"]]
    assert offered == ["convert_grams"]


async def test_tool_retriever_scores_and_async() -> None:
    retriever = IR3DEToolRetriever(TOOLS, IR3DESelector(top_k=2))
    nodes = await retriever.aretrieve("Multiply two integers: 6 and 7")
    assert len(nodes) == 2
    assert nodes[0].node.metadata["name"] == "multiply"
    assert nodes[0].score is not None and nodes[0].score >= nodes[1].score  # type: ignore[operator]
    tools = retriever.as_object_retriever().retrieve("")  # nothing to route on: every tool
    assert [t.metadata.name for t in tools] == ["add", "multiply", "convert_grams"]
    with pytest.raises(ValueError, match="got no tools"):
        IR3DEToolRetriever([])
    with pytest.raises(ValueError, match="must be unique"):
        IR3DEToolRetriever([TOOLS[0], TOOLS[0]])


async def test_react_agent_runs_a_tool_through_the_routed_expert() -> None:
    action = 'Thought: I need to add.\nAction: add\nAction Input: {"a": 2, "b": 3}'
    answer = "Thought: I can answer without using any more tools.\nAnswer: 5"
    replies = [ChatMessage(role=MessageRole.ASSISTANT, content=t) for t in (action, answer)]
    llm, math_calls, cook_calls = math_and_cooking(replies)
    agent = ReActAgent(tools=TOOLS, llm=llm)
    with routing_events() as events:
        result = await agent.run(user_msg="What is 2 plus 3?")
    assert str(result) == "5"
    assert result.tool_calls[0].tool_output.raw_output == 5
    assert len(math_calls) == 2 and cook_calls == []
    assert {e.decision["expert"] for e in events} == {"math"}


def test_query_engine_synthesises_with_the_routed_expert(indexes: dict[str, BaseIndex]) -> None:
    llm, math_calls, cook_calls = math_and_cooking([])
    engine = indexes["cooking"].as_query_engine(llm=llm, similarity_top_k=1)
    with routing_events() as events:
        response = engine.query("How long should I cook onions to caramelise them?")
    assert str(response) == "cooking answers"
    assert events and all(e.decision["expert"] == "cooking" for e in events)
    assert math_calls == [] and len(cook_calls) == len(events)
    prompt = cook_calls[0]["messages"][-1].content
    assert "caramelise" in prompt and "40 minutes" in prompt  # the retrieved context was sent
