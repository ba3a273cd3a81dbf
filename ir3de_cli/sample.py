"""The bundled sample: 120 prompts in four domains, their experts, and routers fitted on them."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

from ir3de_core.data.records import Record
from ir3de_core.router import IR3DERouter

__all__ = [
    "AGGREGATIONS",
    "EXAMPLES",
    "best_aggregation",
    "cross_validated_accuracy",
    "demo_records",
    "demo_router",
]

AGGREGATIONS = ("vote", "average", "pooled")
EXAMPLES = (
    "What is the integral of x * e^x?",
    "Write a Python generator that yields prime numbers.",
    "¿Puedes traducir 'good night' al francés y al alemán?",
    "Write a friendly reminder email about tomorrow's team lunch.",
    "My Go program panics with 'index out of range'; how do I find the bug?",
    "If 4 pencils cost $1.20, how much do 10 pencils cost?",
)


def demo_records() -> list[Record]:
    """The bundled sample: 30 hand-written prompts in each of four domains."""
    text = files("ir3de_cli.demo_data").joinpath("prompts.jsonl").read_text(encoding="utf-8")
    return [Record.from_dict(json.loads(line)) for line in text.splitlines() if line.strip()]


def demo_expert_map() -> dict[str, str]:
    """Domain → example expert model name."""
    text = files("ir3de_cli.demo_data").joinpath("experts.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


def demo_router(featurizer: str | dict[str, Any] = "tokens", **settings: Any) -> IR3DERouter:
    """A router fitted on the bundled sample (`settings`: IR3DERouter keyword arguments)."""
    records = demo_records()
    router = IR3DERouter(featurizer, target="domain", expert_map=demo_expert_map(), **settings)
    return router.fit([r.prompt for r in records], [r.domain for r in records])


def cross_validated_accuracy(
    featurizer: str | dict[str, Any] = "tokens", folds: int = 5, **settings: Any
) -> float:
    """Share of held-out sample prompts routed to their own domain, over `folds` folds."""
    records = demo_records()
    hits = 0
    for fold in range(folds):
        train = [r for i, r in enumerate(records) if i % folds != fold]
        test = [r for i, r in enumerate(records) if i % folds == fold]
        router = IR3DERouter(featurizer, **settings)
        router.fit([r.prompt for r in train], [r.domain for r in train])
        predicted = router.predict_domain([r.prompt for r in test])
        hits += sum(p == r.domain for p, r in zip(predicted, test, strict=True))
    return hits / len(records)


def best_aggregation(featurizer: str = "tokens", folds: int = 5) -> dict[str, float]:
    """Cross-validated accuracy of each token aggregation, best first (ties keep the paper's
    ``vote`` first); a featurizer without tokens has only ``pooled`` rows."""
    names = AGGREGATIONS if featurizer == "tokens" else ("pooled",)
    scores = {a: cross_validated_accuracy(featurizer, folds, aggregation=a) for a in names}
    return dict(sorted(scores.items(), key=lambda item: -item[1]))
