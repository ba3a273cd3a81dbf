"""`python -m benchmarks.routerdc.novelty`: the novelty rule on RouterDC, in and out of distribution.

The default token/domain router with the novelty rule's opt-in
(``IR3DERouter(tokens, safe_default="novelty")``, everything else chosen by its own
cross-validation) is fitted on the training split (in distribution: scored on every task's test
prompts) and, for each task, on the other tasks' training prompts (leave one task out: scored
on the held-out task's test prompts). Each fitted router is scored twice: with its policy as
fitted (the novelty rule on, threshold chosen on training data) and with
``novelty_threshold=None`` (the rule off: what the router did before it existed). Rows: accuracy %
per task and the average, next to the best single expert and the task oracle.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np

from benchmarks.routerdc import baselines
from benchmarks.routerdc.data import RoutingData, load_routerdc_split, task_accuracy
from benchmarks.routerdc.tables import _task_headers
from benchmarks.routerdc.variants import Features, fit_on
from ir3de_cli.report import format_table
from ir3de_core import IR3DERouter

__all__ = ["main", "novelty_rows"]


def _columns(router: IR3DERouter, data: RoutingData, *, novelty: bool) -> np.ndarray:
    policy = router.policy_ if novelty else router.policy_.replace(novelty_threshold=None)
    index = {e: j for j, e in enumerate(data.experts)}
    return np.array([index[d.expert] for d in router.route(data.prompts, policy=policy)])


def _share_default(router: IR3DERouter, data: RoutingData) -> float:
    decisions = router.route(data.prompts)
    return 100.0 * float(np.mean([d.rule == "default" for d in decisions]))


def novelty_rows(train: RoutingData, test: RoutingData, features: Features) -> dict[str, list]:
    """``{"in distribution": rows, "leave one task out": rows}``, each row
    ``[label, *per-task %, average]``, plus ``"chosen"``: [fit, novelty threshold, % default]."""
    tasks = test.task_names
    chosen: list[list] = []
    rows_id: list[list] = []
    router = fit_on(IR3DERouter(features.tokens(), safe_default="novelty"), train)
    for label, novelty in (("rule off (before)", False), ("rule on (after)", True)):
        acc = task_accuracy(test, _columns(router, test, novelty=novelty))
        rows_id.append(
            [f"defaults: tokens, domain — {label}", *(acc[t] for t in tasks), acc["average"]]
        )
    best = task_accuracy(test, np.full(len(test), baselines.best_single(train)))
    oracle_of = baselines.task_oracle(train)
    oracle = task_accuracy(test, np.array([oracle_of[t] for t in test.tasks]))
    rows_id[:0] = [["best single (chosen on train)", *(best[t] for t in tasks), best["average"]],
                   ["task oracle (chosen on train)", *(oracle[t] for t in tasks), oracle["average"]]]  # fmt: skip
    chosen.append(["all tasks", router.policy_.novelty_threshold, _share_default(router, test)])
    loto: dict[str, dict[str, float]] = {}
    for task in tasks:
        rest = train.subset(np.flatnonzero(train.tasks != task))
        held = test.subset(np.flatnonzero(test.tasks == task))
        fitted = fit_on(IR3DERouter(features.tokens(), safe_default="novelty"), rest)
        own = baselines.task_oracle(train.subset(np.flatnonzero(train.tasks == task)))[task]
        values = {
            "best single (chosen on the other tasks)": baselines.best_single(rest),
            "held-out task's own best expert (not attainable)": own,
        }
        for name, column in values.items():
            loto.setdefault(name, {})[task] = task_accuracy(held, np.full(len(held), column))[task]
        for label, novelty in (("rule off (before)", False), ("rule on (after)", True)):
            name = f"defaults: tokens, domain — {label}"
            loto.setdefault(name, {})[task] = task_accuracy(
                held, _columns(fitted, held, novelty=novelty)
            )[task]
        chosen.append([f"without {task}", fitted.policy_.novelty_threshold,
                       _share_default(fitted, held)])  # fmt: skip
    rows_loto = [
        [name, *(v[t] for t in tasks), float(np.mean(list(v.values())))] for name, v in loto.items()
    ]
    return {"in distribution": rows_id, "leave one task out": rows_loto, "chosen": chosen}


def main(argv: Sequence[str] | None = None) -> None:
    """Print the tables."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="RouterDC directory (../shared/data/routerdc)")
    p.add_argument("--limit", type=int, help="at most this many prompts per task and split")
    options = p.parse_args(argv)
    started = time.perf_counter()
    train = load_routerdc_split(options.data, "train", limit=options.limit)
    test = load_routerdc_split(options.data, "test", limit=options.limit)
    result = novelty_rows(train, test, Features())
    headers = ["router", *_task_headers(test.task_names), "average"]
    for title in ("in distribution", "leave one task out"):
        print(f"\nRouterDC, {title}: accuracy on test (%)")
        print(format_table(headers, result[title]))
    print(
        "\nNovelty threshold chosen by each fit (on its training data), % of its test prompts sent to the default"
    )
    print(format_table(["fit", "novelty threshold", "% default"], result["chosen"]))
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
