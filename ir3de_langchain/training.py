"""Fitting a router from what you already have: expert descriptions, tools, example prompts."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from ir3de_core.router import Aggregation, IR3DERouter

__all__ = ["router_from_descriptions", "tool_descriptions", "tool_router"]

_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")
ToolLike = BaseTool | Callable[..., Any] | dict[str, Any] | type


def router_from_descriptions(
    descriptions: Mapping[str, str | Sequence[str]],
    *,
    examples: Mapping[str, Sequence[str]] | None = None,
    featurizer: str | dict[str, Any] = "tokens",
    aggregation: Aggregation = "average",
    **router_kwargs: Any,
) -> IR3DERouter:
    """A router fitted on what each expert is for, plus any example prompts you have.

    Each description is split into sentences; every sentence and every example is one training
    prompt labelled with its expert (domain mode, domains named after the experts).

    Args:
        descriptions: expert → a description (split into sentences) or a list of texts.
        examples: expert → example prompts it should answer (optional, improves accuracy most).
        featurizer: see `IR3DERouter`; ``"tokens"`` (default) needs no download.
        aggregation: see `IR3DERouter`; ``"average"`` gives graded scores for every expert.
        router_kwargs: other `IR3DERouter` settings.

    Raises:
        ValueError: when an expert has no text, or `examples` names an unknown expert.
    """
    unknown = sorted(set(examples or {}) - set(descriptions))
    if unknown:
        msg = f"examples name experts without a description: {unknown}; describe them too"
        raise ValueError(msg)
    prompts: list[str] = []
    labels: list[str] = []
    for expert, description in descriptions.items():
        texts = _sentences(description) if isinstance(description, str) else list(description)
        texts = [t for t in [*texts, *(examples or {}).get(expert, [])] if t.strip()]
        if not texts:
            msg = f"expert {expert!r} has an empty description and no examples"
            raise ValueError(msg)
        prompts += texts
        labels += [expert] * len(texts)
    router = IR3DERouter(featurizer=featurizer, aggregation=aggregation, **router_kwargs)
    return router.fit(prompts, labels)


def tool_descriptions(tools: Sequence[ToolLike]) -> dict[str, list[str]]:
    """Tool name → texts describing it: its name in words, its description, its arguments."""
    out: dict[str, list[str]] = {}
    for tool in tools:
        function = convert_to_openai_tool(tool)["function"]
        name = str(function["name"])
        texts = [re.sub(r"[_\-]+", " ", name), *_sentences(function.get("description") or "")]
        for arg, schema in function.get("parameters", {}).get("properties", {}).items():
            texts.append(f"{arg.replace('_', ' ')}: {schema.get('description', '')}".strip(": "))
        out[name] = [t for t in texts if t.strip()]
    return out


def tool_router(
    tools: Sequence[ToolLike],
    *,
    examples: Mapping[str, Sequence[str]] | None = None,
    **router_kwargs: Any,
) -> IR3DERouter:
    """A router whose experts are the tools, fitted on their descriptions and example requests."""
    return router_from_descriptions(tool_descriptions(tools), examples=examples, **router_kwargs)


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]
