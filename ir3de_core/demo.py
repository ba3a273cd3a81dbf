"""`ir3de demo`: fit a router on the bundled sample prompts and route a few examples, offline."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from importlib.resources import files
from typing import Any

from ir3de_core.data.records import Record
from ir3de_core.router import IR3DERouter

__all__ = ["EXAMPLES", "demo_records", "demo_router", "run_demo"]

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
