"""LangChain's standard chat model suites run against `ChatIR3DE`.

The unit suite needs no network: its experts are `ChatOpenAI` clients that are built but never
called. The integration suite (marked e2e) routes between two real experts served by a local
llama.cpp server (Gemma 3 270M, a base model), reached through `langchain-openai`.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_openai import ChatOpenAI
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from ir3de_core import IR3DERouter
from ir3de_langchain import ChatIR3DE

TRAIN = {
    "brief": ["hello", "hi there", "hey", "good morning", "how are you", "thanks"],
    "thorough": [
        "explain in detail how a compiler works",
        "write a long essay about the history of rome",
        "describe step by step how to bake bread",
        "what is the weather",
        "list every planet with facts",
        "tell me about tools and functions",
    ],
}

_ROUTER: IR3DERouter | None = None


def router() -> IR3DERouter:
    """One router for the module (fitting is the slow part of building a `ChatIR3DE`)."""
    global _ROUTER  # noqa: PLW0603
    if _ROUTER is None:
        prompts = [p for ps in TRAIN.values() for p in ps]
        labels = [e for e, ps in TRAIN.items() for _ in ps]
        featurizer = {"kind": "hashing", "n_features": 256}
        _ROUTER = IR3DERouter(featurizer=featurizer, aggregation="pooled").fit(prompts, labels)
    return _ROUTER


def experts(base_url: str) -> dict[str, BaseChatModel]:
    """Two experts on one server, with different settings (the 270M model answers poorly)."""
    common: dict[str, Any] = {
        "model": "gemma", "base_url": base_url, "api_key": "local", "temperature": 0,
        "stream_usage": True, "timeout": 60,
    }  # fmt: skip
    return {
        "brief": ChatOpenAI(**common, max_tokens=8),
        "thorough": ChatOpenAI(**common, max_tokens=16, frequency_penalty=0.5),
    }


class TestChatIR3DEUnit(ChatModelUnitTests):
    """The unit suite: construction, standard params, tool binding, structured output."""

    @property
    def chat_model_class(self) -> type[ChatIR3DE]:
        return ChatIR3DE

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"router": router(), "experts": experts("http://127.0.0.1:9/v1")}

    @property
    def standard_chat_model_params(self) -> dict[str, Any]:
        # The suite adds api_key="test"; ChatIR3DE holds no credentials (each expert has its own).
        params = super().standard_chat_model_params
        params.pop("api_key")
        return params

    @property
    def model_override_value(self) -> str:
        return "thorough"


#: Why a test of the integration suite cannot pass against Gemma 3 270M behind llama.cpp.
EMPTY_REPLY = (
    "Gemma 3 270M (a base model) answers a lone 'Hello' by ending its turn at once: an empty reply "
    "(banning that token with logit_bias makes llama-cpp-python's server too slow on 2 cores)"
)
NO_TOOL_CALLS = "Gemma 3 270M returns no tool calls unless tool_choice names a tool (LOCAL_LLM.md)"
SERVER_TOOL_HISTORY = (
    "llama-cpp-python's server rejects an assistant message with tool_calls and no string content"
)
NO_JSON_SCHEMA = "llama-cpp-python's server accepts response_format text/json_object only"
NO_STREAM_USAGE = "llama-cpp-python's server sends no usage in streamed chunks"


@pytest.mark.e2e
class TestChatIR3DEIntegration(ChatModelIntegrationTests):
    """The integration suite against two real experts on a local llama.cpp server.

    Tool calling is covered with recorded expert replies in test_chat_models/test_middleware and
    with a forced named tool against the real server in test_e2e.
    """

    base_url = ""

    @pytest.fixture(autouse=True)
    def _server(self, llm_base_url: str) -> None:
        type(self).base_url = llm_base_url

    @property
    def chat_model_class(self) -> type[ChatIR3DE]:
        return ChatIR3DE

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"router": router(), "experts": experts(self.base_url), "temperature": 0}

    @property
    def model_override_value(self) -> str:
        return "thorough"

    @pytest.fixture(autouse=True)
    def _known_failures(self, request: pytest.FixtureRequest) -> None:
        reason = KNOWN_FAILURES.get(request.node.originalname)
        if reason is not None:
            request.node.add_marker(pytest.mark.xfail(reason=reason, strict=False))


#: Standard tests that a 270M base model behind llama-cpp-python cannot pass, with the reason.
KNOWN_FAILURES: dict[str, str] = {
    **dict.fromkeys(
        [
            "test_invoke", "test_ainvoke", "test_stream", "test_astream", "test_batch",
            "test_abatch", "test_stream_events_v3", "test_astream_events_v3",
            "test_message_with_name",
        ],
        EMPTY_REPLY,
    ),
    **dict.fromkeys(
        [
            "test_tool_calling", "test_tool_calling_async", "test_bind_runnables_as_tools",
            "test_tool_choice", "test_tool_calling_with_no_arguments", "test_agent_loop",
            "test_unicode_tool_call_integration", "test_structured_few_shot_examples",
        ],
        NO_TOOL_CALLS,
    ),
    **dict.fromkeys(
        [
            "test_tool_message_histories_string_content",
            "test_tool_message_histories_list_content", "test_tool_message_error_status",
        ],
        SERVER_TOOL_HISTORY,
    ),
    **dict.fromkeys(
        [
            "test_structured_output", "test_structured_output_async",
            "test_structured_output_pydantic_2_v1", "test_structured_output_optional_param",
        ],
        NO_JSON_SCHEMA,
    ),
    "test_usage_metadata_streaming": NO_STREAM_USAGE,
}  # fmt: skip
