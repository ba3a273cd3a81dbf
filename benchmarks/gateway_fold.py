"""What one feedback event costs a gateway's router: the fold, and the decision after it.

The router of `benchmarks.gateway` (the demo records, ``hashing`` at 1,024 features, two
experts, quality mode) folds `--events` scored rows one at a time (``partial_fit_features``, as
the gateway's writer thread does); after each fold one prompt is routed (the first decision of
the new state: novelty, and with ``--explore linucb`` the spread, of the expert's new design
block) and then another (the steady state). BLAS runs on one thread, as in ``ir3de serve``
(`ir3de_serve.server.one_blas_thread`), unless ``--blas-threads`` says otherwise. Run::

    .venv/bin/python -m benchmarks.gateway_fold --events 40 [--explore linucb] [--blas-threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from ir3de_cli.sample import demo_records
from ir3de_core import IR3DERouter, RoutingPolicy

__all__ = ["fold_costs", "main"]


def fold_costs(events: int, explore: str | None = None) -> dict[str, float]:
    """Milliseconds per event: the fold, the first decision after it, the next decision."""
    records = demo_records()
    prompts = [r.prompt for r in records]
    good = {"math": "a", "code": "b", "multilingual": "a", "writing": "b"}
    scores = [{e: 0.9 if good[r.domain or "math"] == e else 0.3 for e in "ab"} for r in records]
    router = IR3DERouter("hashing", target="quality").fit(prompts, scores)
    policy = RoutingPolicy(explore=explore) if explore else router.policy_
    rows = router.transform([prompts[i % len(prompts)] for i in range(events + 5)])
    totals = np.zeros(3)
    for i in range(events + 5):  # the first 5 (the updater's first inverse) are not counted
        expert = "ab"[i % 2]
        started = time.perf_counter()
        router.partial_fit_features(rows[i : i + 1], [{expert: (i % 10) / 10}])
        folded = time.perf_counter()
        router.route([prompts[i % len(prompts)]], policy=policy)
        first = time.perf_counter()
        router.route([prompts[(i + 1) % len(prompts)]], policy=policy)
        if i >= 5:
            totals += [folded - started, first - folded, time.perf_counter() - first]
    fold, after, steady = 1000 * totals / events
    return {"fold": fold, "first decision": after, "next decision": steady}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gateway_fold", description=__doc__)
    parser.add_argument("--events", type=int, default=40)
    parser.add_argument("--explore", choices=("linucb", "thompson"))
    parser.add_argument("--blas-threads", type=int, default=1)
    args = parser.parse_args(argv)
    with threadpool_limits(limits=args.blas_threads, user_api="blas"):
        costs = fold_costs(args.events, args.explore)
    print(f"| BLAS threads | explore | {' | '.join(f'{k} ms' for k in costs)} |")
    print("|---:|---|" + "---:|" * len(costs))
    values = " | ".join(f"{v:.2f}" for v in costs.values())
    print(f"| {args.blas_threads} | {args.explore or 'none'} | {values} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
