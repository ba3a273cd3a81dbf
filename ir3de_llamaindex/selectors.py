"""`IR3DESelector`: a trained selector for RouterQueryEngine, RouterRetriever and tool retrieval.

It spends no LLM call per query: a closed-form ridge router, learned from example queries per
choice and from the choices' descriptions, scores every choice.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from llama_index.core.base.base_selector import (
    BaseSelector,
    MetadataType,
    SelectorResult,
    SingleSelection,
)
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import model_validator
from llama_index.core.prompts.mixin import PromptDictType
from llama_index.core.schema import QueryBundle, QueryType
from llama_index.core.tools.types import ToolMetadata
from scipy.special import softmax

from ir3de_core import IR3DERouter, RoutingDecision
from ir3de_core.featurizers import Featurizer, make_featurizer
from ir3de_llamaindex._choices import (
    CachedFeaturizer,
    ChoiceSet,
    ExampleKey,
    check_choices,
    check_query,
    check_router,
    derive_router,
    is_fitted,
)
from ir3de_llamaindex.embeddings import EmbeddingFeaturizer

__all__ = ["IR3DESelector", "IR3DESelectorResult", "NoChoiceError"]

FeaturizerSpec = str | dict[str, Any] | Featurizer | BaseEmbedding


class IR3DESelectorResult(SelectorResult):
    """A selection that also carries every choice's score.

    Attributes:
        selections: the chosen choices, best first (``inds``/``reasons`` as in LlamaIndex).
        names: each choice's name, or ``#i`` when it has none; shape (n_choices,).
        scores: each choice's router score (higher is better); shape (n_choices,).
        probabilities: softmax of `scores` at the router's confidence temperature.
        confidence: the router's confidence in its top choice, in [0, 1].
        no_match: true when no choice reached the threshold and the default choice was used.
    """

    names: list[str]
    scores: list[float]
    probabilities: list[float]
    confidence: float
    no_match: bool = False

    @model_validator(mode="after")
    def _check_indices(self) -> IR3DESelectorResult:
        n = len(self.names)
        if len(self.scores) != n or len(self.probabilities) != n:
            msg = (
                f"got {n} names, {len(self.scores)} scores, {len(self.probabilities)} probabilities"
            )
            raise ValueError(msg)
        inds = self.inds
        if any(not 0 <= i < n for i in inds) or len(set(inds)) != len(inds):
            msg = f"selected indices {inds} must be distinct and within the {n} choices"
            raise ValueError(msg)
        return self

    @property
    def scores_by_name(self) -> dict[str, float]:
        """Every choice's score keyed by its name."""
        return dict(zip(self.names, self.scores, strict=True))

    @property
    def selected_names(self) -> list[str]:
        """Names of the selected choices, best first."""
        return [self.names[i] for i in self.inds]


class NoChoiceError(ValueError):
    """No choice reached the selector's threshold and no default choice was configured.

    Attributes:
        result: the scores of every choice (with no selection).
    """

    def __init__(self, message: str, result: IR3DESelectorResult) -> None:
        super().__init__(message)
        self.result = result


class IR3DESelector(BaseSelector):
    """Select among LlamaIndex choices with an IR3DE router; no LLM call per query.

    The router is trained per set of choices (cached; retrained when the choices change) on the
    example queries given for each choice and on the choices' descriptions.

    Args:
        examples: example queries per choice, keyed by choice name (or index for unnamed choices).
        router: a router already fitted on queries labelled with choice names; unknown choices
            are added from their examples or description, experts that are not choices dropped.
            None trains one from `examples` and descriptions with `featurizer` and `router_params`.
        featurizer: how texts become features when `router` is None: ``"hashing"`` (no model),
            ``"sentence"`` (local all-MiniLM-L6-v2), a config dict, a featurizer or a LlamaIndex
            embedding model.
        router_params: further `IR3DERouter` settings (``alpha``, ``confidence_temperature``...).
        use_descriptions: also learn from the description of choices that have examples (a choice
            without examples always learns from its description).
        top_k: most choices selected (1 for single selection).
        threshold: least probability a choice needs to be selected; None selects the top `top_k`.
        default_choice: name or index chosen when no choice reaches `threshold`; None raises
            `NoChoiceError` instead.
        cache_size: routers kept for recently seen sets of choices.
    """

    def __init__(
        self,
        *,
        examples: Mapping[ExampleKey, Sequence[str]] | None = None,
        router: IR3DERouter | None = None,
        featurizer: FeaturizerSpec = "hashing",
        router_params: Mapping[str, Any] | None = None,
        use_descriptions: bool = True,
        top_k: int = 1,
        threshold: float | None = None,
        default_choice: str | int | None = None,
        cache_size: int = 16,
    ) -> None:
        if top_k < 1:
            msg = f"top_k must be ≥ 1, got {top_k}"
            raise ValueError(msg)
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            msg = f"threshold is a probability in [0, 1], got {threshold}"
            raise ValueError(msg)
        if router is not None and router.target != "domain":
            msg = "IR3DESelector needs a domain router (target='domain') whose domains are choices"
            raise ValueError(msg)
        self._examples: dict[ExampleKey, list[str]] = {
            k: list(v) for k, v in (examples or {}).items()
        }
        self._router = router
        self._template = router or IR3DERouter(_resolve(featurizer), **dict(router_params or {}))
        self._use_descriptions = use_descriptions
        self._top_k = top_k
        self._threshold = threshold
        self._default_choice = default_choice
        self._cache_size = cache_size
        self._routers: OrderedDict[tuple[Any, ...], IR3DERouter] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_defaults(
        cls,
        examples: Mapping[ExampleKey, Sequence[str]] | None = None,
        *,
        embed_model: BaseEmbedding | None = None,
        featurizer: FeaturizerSpec = "hashing",
        top_k: int = 1,
        threshold: float | None = None,
        default_choice: str | int | None = None,
        **router_params: Any,
    ) -> IR3DESelector:
        """A selector trained from `examples` and descriptions.

        Args:
            examples: example queries per choice name.
            embed_model: a LlamaIndex embedding model to featurize with (overrides `featurizer`).
            featurizer: see the class; ``"hashing"`` needs no model and no network.
            top_k: most choices selected.
            threshold: least probability a selected choice needs.
            default_choice: chosen when nothing reaches the threshold; None raises instead.
            **router_params: `IR3DERouter` settings such as ``alpha``.
        """
        return cls(
            examples=examples,
            featurizer=embed_model if embed_model is not None else featurizer,
            router_params=router_params,
            top_k=top_k,
            threshold=threshold,
            default_choice=default_choice,
        )

    @classmethod
    def class_name(cls) -> str:
        """Name used when serialising."""
        return "IR3DESelector"

    def _get_prompts(self) -> dict[str, Any]:
        """No prompts: the selector calls no LLM."""
        return {}

    def _update_prompts(self, prompts: PromptDictType) -> None:
        """No prompts to update."""

    # ------------------------------------------------------------------ public API
    def select(self, choices: Sequence[MetadataType], query: QueryType) -> IR3DESelectorResult:
        """Score every choice for the query and select the best (up to `top_k`)."""
        check_choices(choices)
        check_query(query)
        return super().select(choices, query)  # type: ignore[return-value]

    async def aselect(
        self, choices: Sequence[MetadataType], query: QueryType
    ) -> IR3DESelectorResult:
        """Async form of `select` (the scoring runs in a worker thread)."""
        check_choices(choices)
        check_query(query)
        return await super().aselect(choices, query)  # type: ignore[return-value]

    def add_examples(self, choice: ExampleKey, queries: Sequence[str]) -> IR3DESelector:
        """Learn more example queries for one choice (retrains on the next `select`)."""
        if isinstance(queries, str):
            msg = "queries must be a list of strings; wrap a single query: [query]"
            raise TypeError(msg)
        with self._lock:
            self._examples.setdefault(choice, []).extend(queries)
            self._routers.clear()
        return self

    def router_for(self, choices: Sequence[MetadataType]) -> IR3DERouter:
        """The (cached) router that scores these choices; its experts are the choice names."""
        check_choices(choices)
        metadatas = [
            c if isinstance(c, ToolMetadata) else ToolMetadata(description=c) for c in choices
        ]
        return self._router_for(ChoiceSet.of(metadatas))

    # ------------------------------------------------------------------ internals
    def _select(self, choices: Sequence[ToolMetadata], query: QueryBundle) -> IR3DESelectorResult:
        choice_set = ChoiceSet.of(choices)
        check_query(query)
        decision = self._router_for(choice_set).route([query.query_str])[0]
        return self._result(choice_set, decision)

    async def _aselect(
        self, choices: Sequence[ToolMetadata], query: QueryBundle
    ) -> IR3DESelectorResult:
        return await asyncio.to_thread(self._select, choices, query)

    def _router_for(self, choice_set: ChoiceSet) -> IR3DERouter:
        key = (choice_set.labels, choice_set.descriptions)
        with self._lock:
            if key in self._routers:
                self._routers.move_to_end(key)
                return self._routers[key]
            examples = dict(self._examples)
        if self._router is not None:
            check_router(self._router, fitted=is_fitted(self._router))
        texts = choice_set.texts(examples, use_descriptions=self._use_descriptions)
        router = derive_router(self._template, self._router is not None, texts)
        with self._lock:
            self._routers[key] = router
            while len(self._routers) > self._cache_size:
                self._routers.popitem(last=False)
        return router

    def _result(self, choice_set: ChoiceSet, decision: RoutingDecision) -> IR3DESelectorResult:
        labels = list(choice_set.labels)
        scores = np.array([decision.scores[label] for label in labels], dtype=np.float64)
        temperature = float(self._template.confidence_temperature)
        probabilities = softmax(scores / temperature)
        order = [labels.index(name) for name in decision.ranking()]
        kept = [i for i in order[: self._top_k] if self._passes(float(probabilities[i]))]
        selections = [_selection(i, labels[i], scores[i], probabilities[i]) for i in kept]
        result = IR3DESelectorResult(
            selections=selections,
            names=labels,
            scores=scores.tolist(),
            probabilities=probabilities.tolist(),
            confidence=decision.confidence,
        )
        return result if kept else self._no_match(result)

    def _passes(self, probability: float) -> bool:
        return self._threshold is None or probability >= self._threshold

    def _no_match(self, result: IR3DESelectorResult) -> IR3DESelectorResult:
        best = int(np.argmax(result.scores))
        summary = f"best was {result.names[best]!r} at p={result.probabilities[best]:.3f}"
        if self._default_choice is None:
            msg = (
                f"no choice reached the threshold {self._threshold} ({summary}); lower the "
                "threshold or set default_choice"
            )
            raise NoChoiceError(msg, result)
        index = self._default_index(result.names)
        reason = f"IR3DE: no choice reached p≥{self._threshold} ({summary}); default choice"
        return result.model_copy(
            update={"selections": [SingleSelection(index=index, reason=reason)], "no_match": True}
        )

    def _default_index(self, names: list[str]) -> int:
        default = self._default_choice
        if isinstance(default, int) and not isinstance(default, bool) and 0 <= default < len(names):
            return default
        if isinstance(default, str) and default in names:
            return names.index(default)
        msg = f"default_choice {default!r} is not one of the choices {names} (by name or index)"
        raise ValueError(msg)


def _selection(index: int, label: str, score: float, probability: float) -> SingleSelection:
    reason = f"IR3DE: {label!r} scored {score:.3f} (p={probability:.3f})"
    return SingleSelection(index=index, reason=reason)


def _resolve(featurizer: FeaturizerSpec) -> Featurizer | str | dict[str, Any]:
    """One featurizer instance shared by every retraining (so a model loads once), cached when
    it is stateless; featurizers that learn state (TF-IDF hashing) are rebuilt per fit."""
    if isinstance(featurizer, BaseEmbedding):
        return CachedFeaturizer(EmbeddingFeaturizer(featurizer))
    instance = make_featurizer(featurizer)
    if hasattr(instance, "fit"):
        return instance.get_config()
    return CachedFeaturizer(instance) if CachedFeaturizer.can_wrap(instance) else instance
