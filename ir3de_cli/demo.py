"""`ir3de demo`: fit on the bundled sample prompts and print a few routed examples, offline."""

from __future__ import annotations

import time
from collections.abc import Sequence

from ir3de_cli.sample import EXAMPLES, best_aggregation, demo_router

__all__ = ["run_demo"]


def run_demo(featurizer: str = "tokens", extra_prompts: Sequence[str] = ()) -> None:
    """Pick the aggregation by cross-validation, fit, then print each example's decision with
    scores and the tokens behind it."""
    start = time.perf_counter()
    accuracy = best_aggregation(featurizer)
    aggregation = next(iter(accuracy))
    router = demo_router(featurizer, aggregation=aggregation)
    fitted = time.perf_counter() - start
    print(f"IR3DE demo — {featurizer} featurizer, 120 sample prompts in 4 domains")
    for name, value in accuracy.items():
        chosen = "  ← chosen" if name == aggregation else ""
        print(f"  5-fold cross-validated routing accuracy, {name:>7}: {100 * value:.1f}%{chosen}")
    print(f"cross-validated and fitted in {1000 * fitted:.0f} ms")
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
