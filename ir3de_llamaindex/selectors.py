"""`IR3DESelector`: a trained selector for RouterQueryEngine, RouterRetriever and tool retrieval.

It spends no LLM call per query: a closed-form ridge router, learned from example queries per
choice and from the choices' descriptions, scores every choice, and the router's
`RoutingPolicy` decides (argmax, quality − λ·cost, a threshold with a default choice).
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.base.base_selector import BaseSelector, MetadataType
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.prompts.mixin import PromptDictType
from llama_index.core.schema import QueryBundle, QueryType
from llama_index.core.tools.types import ToolMetadata

from ir3de_core import IR3DERouter, RoutingPolicy
from ir3de_core.featurizers import CachedFeaturizer, Featurizer, make_featurizer
from ir3de_llamaindex._choices import (
    ChoiceSet,
    ExampleKey,
    check_choices,
    check_query,
    check_router,
    derive_router,
    is_fitted,
)
from ir3de_llamaindex._results import IR3DESelectorResult, NoChoiceError, selection_result
from ir3de_llamaindex.embeddings import EmbeddingFeaturizer

__all__ = ["IR3DESelector", "IR3DESelectorResult", "NoChoiceError"]

FeaturizerSpec = str | dict[str, Any] | Featurizer | BaseEmbedding
CACHE_SIZE = 4096
"""Texts whose feature rows a selector's featurizer cache remembers."""


class IR3DESelector(BaseSelector):
    """Select among LlamaIndex choices with an IR3DE router; no LLM call per query.

    The router is trained per set of choices (cached; retrained when the choices change) on the
    example queries given for each choice and on the choices' descriptions. Its scores go to a
    `RoutingPolicy`, which decides; `threshold` and `default_choice` are that policy's threshold
    (on confidence) and default. A selector has no implicit default: when the policy names
    none, a decision below the threshold is ``unsure`` and raises `NoChoiceError`.

    Args:
        examples: example queries per choice, keyed by choice name (or index for unnamed choices).
        router: a router already fitted on queries labelled with choice names; unknown choices
            are added from their examples or description, experts that are not choices dropped.
            None trains one from `examples` and descriptions with `featurizer` and `router_params`.
        featurizer: how texts become features when `router` is None: ``"tokens"`` (the
            library's default: all-MiniLM-L6-v2's token embedding table, no forward pass),
            ``"sentence"`` (local all-MiniLM-L6-v2), ``"hashing"``, a config dict, a featurizer or
            a LlamaIndex embedding model.
        router_params: further `IR3DERouter` settings (``alpha``, ``confidence_temperature``...).
        use_descriptions: also learn from the description of choices that have examples (a choice
            without examples always learns from its description).
        top_k: most choices selected: the policy's decision, then the most probable others that
            reach the threshold (1 for single selection).
        threshold: least probability the decided choice needs; sets the policy's threshold.
        default_choice: name or index chosen when the decision is below the threshold; sets the
            policy's default. None (and no default in `policy`) raises `NoChoiceError` instead.
        cache_size: routers kept for recently seen sets of choices.
        policy: how scores become a decision, with choice names as experts (prices, ``lam``,
            ``threshold``, ``default``), or its dict; None uses the router's ``policy_``. `threshold` and
            `default_choice`, when given, replace its threshold and default.
    """

    def __init__(
        self,
        *,
        examples: Mapping[ExampleKey, Sequence[str]] | None = None,
        router: IR3DERouter | None = None,
        featurizer: FeaturizerSpec = "tokens",
        router_params: Mapping[str, Any] | None = None,
        use_descriptions: bool = True,
        top_k: int = 1,
        threshold: float | None = None,
        default_choice: str | int | None = None,
        cache_size: int = 16,
        policy: RoutingPolicy | Mapping[str, Any] | None = None,
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
        self._policy = _as_policy(policy)
        self._cache_size = cache_size
        self._routers: OrderedDict[tuple[Any, ...], IR3DERouter] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_defaults(
        cls,
        examples: Mapping[ExampleKey, Sequence[str]] | None = None,
        *,
        embed_model: BaseEmbedding | None = None,
        featurizer: FeaturizerSpec = "tokens",
        top_k: int = 1,
        threshold: float | None = None,
        default_choice: str | int | None = None,
        policy: RoutingPolicy | Mapping[str, Any] | None = None,
        **router_params: Any,
    ) -> IR3DESelector:
        """A selector trained from `examples` and descriptions.

        Args:
            examples: example queries per choice name.
            embed_model: a LlamaIndex embedding model to featurize with (overrides `featurizer`).
            featurizer: see the class; ``"tokens"`` (default) needs no download.
            top_k: most choices selected.
            threshold: least probability the decided choice needs.
            default_choice: chosen when the decision is below the threshold; None raises.
            policy: the decision policy (see the class).
            **router_params: `IR3DERouter` settings such as ``alpha``.
        """
        return cls(
            examples=examples,
            featurizer=embed_model if embed_model is not None else featurizer,
            router_params=router_params,
            top_k=top_k,
            threshold=threshold,
            default_choice=default_choice,
            policy=policy,
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
        """Score every choice for the query and select the policy's decision (up to `top_k`).

        Raises:
            NoChoiceError: the decision is below the threshold and there is no default choice.
        """
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
        return self._router_for(_choice_set(choices))

    def policy_for(self, choices: Sequence[MetadataType]) -> RoutingPolicy:
        """The policy that decides between these choices (experts are the choice names)."""
        choice_set = _choice_set(choices)
        return self._policy_for(choice_set, self._router_for(choice_set))

    # ------------------------------------------------------------------ internals
    def _select(self, choices: Sequence[ToolMetadata], query: QueryBundle) -> IR3DESelectorResult:
        choice_set = ChoiceSet.of(choices)
        check_query(query)
        router = self._router_for(choice_set)
        policy = self._policy_for(choice_set, router)
        decision = router.route([query.query_str], policy=policy)[0]
        return selection_result(choice_set.labels, decision, self._top_k, self._user_threshold)

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

    def _policy_for(self, choice_set: ChoiceSet, router: IR3DERouter) -> RoutingPolicy:
        """The given policy (or the router's) with `threshold` and `default_choice` applied.

        For the selector's own `threshold` "no default" means no default, not the router's best
        single choice: without `default_choice`, a query below it is flagged (``unsure``) and
        `NoChoiceError` is raised. Without a selector threshold the router's policy decides as
        it is (a safe-default threshold it learned sends unsure queries to its best choice).
        """
        policy = self._policy if self._policy is not None else router.policy_
        changes: dict[str, Any] = {}
        if self._default_choice is not None:
            changes["default"] = choice_set.label_of(self._default_choice)
        if self._threshold is not None:
            changes.update(threshold=self._threshold, threshold_on="confidence")
        if (
            self._user_threshold is not None
            and self._default_choice is None
            and policy.default is None
        ):
            changes["unsure"] = "flag"
        return policy.replace(**changes)

    @property
    def _user_threshold(self) -> float | None:
        """The threshold the user gave (the selector's, or its policy's); a router's learned
        safe-default threshold is not one."""
        if self._threshold is not None:
            return self._threshold
        return None if self._policy is None else self._policy.threshold


def _as_policy(policy: RoutingPolicy | Mapping[str, Any] | None) -> RoutingPolicy | None:
    return None if policy is None else RoutingPolicy.of(policy)


def _choice_set(choices: Sequence[MetadataType]) -> ChoiceSet:
    check_choices(choices)
    metadatas = [c if isinstance(c, ToolMetadata) else ToolMetadata(description=c) for c in choices]
    return ChoiceSet.of(metadatas)


def _resolve(featurizer: FeaturizerSpec) -> Featurizer | str | dict[str, Any]:
    """One featurizer instance shared by every retraining (so a model loads once), cached when
    it is stateless; featurizers that learn state (TF-IDF hashing) are rebuilt per fit."""
    if isinstance(featurizer, BaseEmbedding):
        return CachedFeaturizer(EmbeddingFeaturizer(featurizer), max_size=CACHE_SIZE)
    instance = make_featurizer(featurizer)
    if hasattr(instance, "fit"):
        return instance.get_config()
    if CachedFeaturizer.can_wrap(instance):
        return CachedFeaturizer(instance, max_size=CACHE_SIZE)
    return instance
