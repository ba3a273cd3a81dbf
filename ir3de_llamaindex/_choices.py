"""Checking a selector's inputs and turning choices into training data for a router."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from llama_index.core.schema import QueryBundle
from llama_index.core.tools.types import ToolMetadata

from ir3de_core import IR3DERouter, NotFittedError
from ir3de_core.featurizers import validate_texts

__all__ = [
    "ChoiceSet",
    "check_choices",
    "check_query",
    "check_router",
    "derive_router",
    "is_fitted",
]

ExampleKey = str | int


def check_choices(choices: object) -> None:
    """Reject what `BaseSelector` would only reject with "Unexpected type" (or not at all)."""
    if isinstance(choices, str | bytes) or not isinstance(choices, Sequence):
        msg = (
            f"choices must be a list of ToolMetadata or descriptions, got {type(choices).__name__}"
        )
        raise TypeError(msg)
    if not choices:
        msg = "got no choices to select from; pass at least one ToolMetadata or description"
        raise ValueError(msg)
    for i, choice in enumerate(choices):
        if not isinstance(choice, str | ToolMetadata):
            msg = f"choice {i} is a {type(choice).__name__}; pass ToolMetadata or a description str"
            raise TypeError(msg)


def check_query(query: object) -> None:
    """A query must be a non-empty str or a QueryBundle with a non-empty ``query_str``."""
    if not isinstance(query, str | QueryBundle):
        msg = f"query must be a str or a QueryBundle, got {type(query).__name__}"
        raise TypeError(msg)
    text = query if isinstance(query, str) else query.query_str
    if not text or not text.strip():
        msg = "the query is empty; IR3DESelector routes on the query text"
        raise ValueError(msg)


@dataclass(frozen=True)
class ChoiceSet:
    """The choices of one `select` call, labelled: a choice's name, or ``#i`` when unnamed."""

    labels: tuple[str, ...]
    descriptions: tuple[str, ...]

    @classmethod
    def of(cls, choices: Sequence[ToolMetadata]) -> ChoiceSet:
        """Label the choices, rejecting duplicate names."""
        labels = tuple(c.name or f"#{i}" for i, c in enumerate(choices))
        duplicates = sorted(label for label, n in Counter(labels).items() if n > 1)
        if duplicates:
            msg = (
                f"duplicate choice names {duplicates}; give every choice a unique ToolMetadata.name"
            )
            raise ValueError(msg)
        return cls(labels, tuple(c.description for c in choices))

    def label_of(self, choice: ExampleKey) -> str:
        """The label of a choice given by name or by index."""
        labels = self.labels
        if isinstance(choice, int) and not isinstance(choice, bool) and 0 <= choice < len(labels):
            return labels[choice]
        if isinstance(choice, str) and choice in labels:
            return choice
        msg = (
            f"default_choice {choice!r} is not one of the choices {list(labels)} (by name or index)"
        )
        raise ValueError(msg)

    def texts(
        self, examples: Mapping[ExampleKey, Sequence[str]], *, use_descriptions: bool
    ) -> dict[str, list[str]]:
        """Training texts per label: its examples (keyed by name or index) and its description.

        A choice without examples is represented by its description; one with examples adds its
        description only when `use_descriptions` is true.

        Raises:
            NotFittedError: when a choice has nothing to learn from.
        """
        out: dict[str, list[str]] = {}
        for i, (label, description) in enumerate(zip(self.labels, self.descriptions, strict=True)):
            texts = list(examples.get(label, examples.get(i, ())))
            if (use_descriptions or not texts) and description.strip():
                texts.append(description)
            if not texts:
                msg = (
                    f"choice {label!r} has neither example queries nor a description; pass "
                    "examples={name: [queries]} or describe it in its ToolMetadata"
                )
                raise NotFittedError(msg)
            out[label] = validate_texts(texts)
        return out


def derive_router(
    template: IR3DERouter, fitted: bool, texts: Mapping[str, list[str]]
) -> IR3DERouter:
    """A router over exactly the labels of `texts`.

    A fitted `template` is copied (never changed): choices it does not know are added from their
    texts and experts that are not choices are removed. An unfitted one gives its settings to a
    new router fitted on `texts`.
    """
    if not fitted:
        router = IR3DERouter(**template.get_params(deep=False))
        prompts = [t for label in texts for t in texts[label]]
        labels = [label for label in texts for _ in texts[label]]
        return router.fit(prompts, labels)
    router = copy.copy(template)  # every update below rebinds state instead of mutating it
    for label in texts:
        if label not in router.experts_:
            router.add_expert(label, texts[label])
    for expert in router.experts_:
        if expert not in texts:
            router.remove_expert(expert)
    return router


def is_fitted(router: IR3DERouter) -> bool:
    """Whether the core router has been fitted."""
    return hasattr(router, "state_")


def check_router(router: IR3DERouter, *, fitted: bool) -> None:
    """A router given to a selector as trained must be fitted."""
    if not fitted:
        msg = (
            "the router given to IR3DESelector is not fitted; fit it on example queries labelled "
            "with choice names (router.fit(queries, names)), or pass examples= instead of router="
        )
        raise NotFittedError(msg)
