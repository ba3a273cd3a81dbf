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


#: Gemma 3 270M (a base model) most often answers a lone "Hello" by ending its turn at once
#: ("<|im_end|>"), an empty reply; banning its first token "<" (id 236820) makes it answer.
NO_EMPTY_REPLY = {236820: -100}


def experts(base_url: str) -> dict[str, BaseChatModel]:
    """Two experts on one server, with different settings (the 270M model answers poorly)."""
    common: dict[str, Any] = {
        "model": "gemma", "base_url": base_url, "api_key": "local", "temperature": 0,
        "stream_usage": True, "timeout": 60, "logit_bias": NO_EMPTY_REPLY,
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


@pytest.mark.e2e
class TestChatIR3DEIntegration(ChatModelIntegrationTests):
    """The integration suite against two real experts on a local llama.cpp server."""

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
