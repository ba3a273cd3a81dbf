"""The pieces of `ChatIR3DE` that are about LangChain's plumbing, not routing.

The ``model`` configurable field, child-run callbacks, the common profile of the experts, and
the routed answer and chunks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForLLMRun,
    CallbackManager,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.model_profile import ModelProfile
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ensure_config
from langchain_core.runnables.utils import ConfigurableFieldSpec, get_unique_config_specs

from ir3de_core.decide.decision import RoutingDecision
from ir3de_langchain._decision import IR3DE_KEY

__all__ = [
    "ExpertByConfig",
    "child_callbacks",
    "common_profile",
    "route_head",
    "routed_chunk",
    "routed_message",
    "routed_result",
]


def child_callbacks(
    run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None,
) -> CallbackManager | AsyncCallbackManager | None:
    """Callbacks that make the expert's run a child of ours (`get_child` of chain runs)."""
    if run_manager is None:
        return None
    cls = (
        AsyncCallbackManager
        if isinstance(run_manager, AsyncCallbackManagerForLLMRun)
        else CallbackManager
    )
    manager = cls(handlers=[], parent_run_id=run_manager.run_id)
    manager.set_handlers(run_manager.inheritable_handlers)
    manager.add_tags(run_manager.inheritable_tags)
    manager.add_metadata(run_manager.inheritable_metadata)
    return manager


def common_profile(profiles: Sequence[ModelProfile | None]) -> ModelProfile | None:
    """What every model can do: a capability holds if it holds for all; limits are minima.

    None when a model has no profile (nothing can be promised).
    """
    if not profiles or any(p is None for p in profiles):
        return None
    common: dict[str, Any] = {}
    for key in set.intersection(*(set(p) for p in profiles if p is not None)):
        values = [p[key] for p in profiles if p is not None]  # type: ignore[literal-required]
        if all(isinstance(v, bool) for v in values):
            common[key] = all(values)
        elif all(isinstance(v, int) for v in values):
            common[key] = min(values)
    return ModelProfile(**common)  # type: ignore[typeddict-item]


def routed_message(message: BaseMessage, decision: RoutingDecision) -> BaseMessage:
    """An expert's answer as ours: ``model_name`` is the expert, ``ir3de`` the decision.

    The expert's own ``model_name`` (the provider's model) is kept as ``expert_model_name``.
    """
    info = decision.to_dict()
    if "model_name" in message.response_metadata:
        info["expert_model_name"] = message.response_metadata["model_name"]
    metadata = {**message.response_metadata, "model_name": decision.expert, IR3DE_KEY: info}
    return message.model_copy(update={"response_metadata": metadata})


def routed_result(message: BaseMessage, decision: RoutingDecision) -> ChatResult:
    """Our result from an expert's answer (see `routed_message`)."""
    return ChatResult(generations=[ChatGeneration(message=routed_message(message, decision))])


def route_head(decision: RoutingDecision) -> dict[str, Any]:
    """The `response_metadata` of the first chunk: the expert and the decision."""
    return {"model_name": decision.expert, IR3DE_KEY: decision.to_dict()}


def routed_chunk(message: BaseMessage, head: dict[str, Any] | None) -> ChatGenerationChunk:
    """Our chunk from an expert's: the route on the first chunk, the expert's model_name dropped.

    Chunks add up by concatenating strings, so ``model_name`` must appear on one chunk only.
    """
    metadata = {k: v for k, v in message.response_metadata.items() if k != "model_name"}
    if head is not None:
        metadata = {**metadata, **head}
    if not isinstance(message, AIMessageChunk):
        message = AIMessageChunk(content=message.content, id=message.id)
    return ChatGenerationChunk(message=message.model_copy(update={"response_metadata": metadata}))


_MODEL_SPEC = ConfigurableFieldSpec(
    id="model", annotation=str | None, name="Expert", default=None,
    description="Send every call to this expert (rule 'forced'); None: route.",
)  # fmt: skip


class ExpertByConfig(BaseChatModel):
    """A chat model whose ``model`` call argument may also come from the run's config.

    ``with_config(configurable={"model": "poet"})``, or ``{"configurable": {"model": "poet"}}``
    given to a chain or an agent, reaches `_generate`/`_stream` as ``model="poet"``, as
    ``bind(model="poet")`` does; an explicit ``model=`` argument wins.
    """

    @property
    def config_specs(self) -> list[ConfigurableFieldSpec]:
        """``model``: ``with_config(configurable={"model": "<expert>"})`` forces an expert."""
        return get_unique_config_specs([*super().config_specs, _MODEL_SPEC])

    def invoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        """As `BaseChatModel.invoke`; ``configurable["model"]`` forces an expert."""
        return super().invoke(input, config, stop=stop, **_configured(config, kwargs))

    async def ainvoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        """Async form of `invoke`."""
        return await super().ainvoke(input, config, stop=stop, **_configured(config, kwargs))

    def stream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> Iterator[AIMessageChunk]:
        """As `BaseChatModel.stream`; ``configurable["model"]`` forces an expert."""
        yield from super().stream(input, config, stop=stop, **_configured(config, kwargs))

    async def astream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[AIMessageChunk]:
        """Async form of `stream`."""
        async for chunk in super().astream(input, config, stop=stop, **_configured(config, kwargs)):
            yield chunk


def _configured(config: RunnableConfig | None, kwargs: dict[str, Any]) -> dict[str, Any]:
    """`kwargs` with ``model`` from ``config["configurable"]`` unless the call names one."""
    model = (ensure_config(config).get("configurable") or {}).get("model")
    return kwargs if model is None or "model" in kwargs else {**kwargs, "model": model}
