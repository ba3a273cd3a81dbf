"""`ir3de demo`: fit a router on the bundled sample prompts and route a few examples, offline."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from importlib.resources import files
from typing import Any

from ir3de_core.data.records import Record
from ir3de_core.router import IR3DERouter

__all__ = ["EXAMPLES", "cross_validated_accuracy", "demo_records", "demo_router", "run_demo"]

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
    text = files("ir3de_core.demo_data").joinpath("prompts.jsonl").read_text(encoding="utf-8")
    return [Record.from_dict(json.loads(line)) for line in text.splitlines() if line.strip()]


def demo_expert_map() -> dict[str, str]:
    """Domain → example expert model name."""
    text = files("ir3de_core.demo_data").joinpath("experts.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


def demo_router(featurizer: str | dict[str, Any] = "tokens") -> IR3DERouter:
    """A router fitted on the bundled sample."""
    records = demo_records()
    router = IR3DERouter(featurizer, target="domain", expert_map=demo_expert_map())
    return router.fit([r.prompt for r in records], [r.domain for r in records])


def run_demo(featurizer: str = "tokens", extra_prompts: Sequence[str] = ()) -> None:
    """Fit, then print each example's decision with scores and the tokens behind it."""
    start = time.perf_counter()
    router = demo_router(featurizer)
    fitted = time.perf_counter() - start
    print(f"IR3DE demo — {featurizer} featurizer, fitted on 120 prompts in {1000 * fitted:.0f} ms")
    print(f"experts: {', '.join(router.experts_)}\n")
    prompts = [*EXAMPLES, *extra_prompts]
    start = time.perf_counter()
    decisions = router.route(prompts, explain=True, top=4)
    routed = time.perf_counter() - start
    for prompt, decision in zip(prompts, decisions, strict=True):
        print(f"> {prompt}")
        print(
            f"  → {decision.expert}  (domain {decision.domain}, confidence {decision.confidence:.2f})"
        )
        ranked = ", ".join(f"{e} {decision.scores[e]:.2f}" for e in decision.ranking())
        print(f"    scores: {ranked}")
        why = ", ".join(f"{c.text!r} {c.weight:+.2f}" for c in decision.explanation)
        print(f"    because of: {why}\n")
    print(f"routed {len(prompts)} prompts (with explanations) in {1000 * routed:.1f} ms")
    accuracy = cross_validated_accuracy(featurizer)
    print(f"5-fold cross-validated routing accuracy on the sample: {100 * accuracy:.1f}%")


def cross_validated_accuracy(featurizer: str | dict[str, Any] = "tokens", folds: int = 5) -> float:
    """Share of held-out sample prompts routed to their own domain, over `folds` folds."""
    records = demo_records()
    hits = 0
    for fold in range(folds):
        train = [r for i, r in enumerate(records) if i % folds != fold]
        test = [r for i, r in enumerate(records) if i % folds == fold]
        router = IR3DERouter(featurizer).fit([r.prompt for r in train], [r.domain for r in train])
        predicted = router.predict_domain([r.prompt for r in test])
        hits += sum(p == r.domain for p, r in zip(predicted, test, strict=True))
    return hits / len(records)
