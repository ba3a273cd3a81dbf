"""`ir3de demo`: fit on the bundled sample prompts and print a few routed examples, offline."""

from __future__ import annotations

import time
from collections.abc import Sequence

from ir3de_cli.report import tuning_report
from ir3de_cli.sample import EXAMPLES, demo_router

__all__ = ["run_demo"]


def run_demo(featurizer: str = "tokens", extra_prompts: Sequence[str] = ()) -> None:
    """Fit with the defaults (which cross-validate α, the aggregation and the confidence), then
    print what was chosen and each example's decision with scores and the tokens behind it."""
    start = time.perf_counter()
    router = demo_router(featurizer)
    fitted = time.perf_counter() - start
    print(f"IR3DE demo — {featurizer} featurizer, 120 sample prompts in 4 domains")
    if router.cv_results_ is not None:
        print(tuning_report(router.cv_results_))
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
