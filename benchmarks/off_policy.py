"""Off-policy estimates vs the truth: does the interval an estimate states hold a candidate's value?

RouterDC publishes every expert's score on every prompt, so the true value of any router on a
held-out stream is known. For each seed:

1. a *logging* router (hashed words, quality target) is fitted on part A of the training split
   and serves a held-out stream (a seeded sample of the test split) with an exploring policy —
   Thompson sampling (the product's rule, `RoutingPolicy(explore="thompson")`) or ε-greedy;
   only the chosen expert's score is logged, with its propensity;
2. each *candidate* router (fitted on part B of the training split, settings fixed in advance)
   is estimated from that log by IPS, SNIPS and doubly robust (its predicted quality as the
   reward model), each with a 95 % percentile-bootstrap interval (`ir3de_core.learn.off_policy`),
   and by the gain over the logging policy (`ir3de_core.learn.off_policy_gain`);
3. the truth — the candidate's mean score on the same prompts, from the full score matrix —
   is compared with each interval: covered or not.

Run::

    .venv/bin/python -m benchmarks.off_policy --data ../shared/data/routerdc
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmarks.routerdc.data import RoutingData, load_routerdc_split
from ir3de_cli.report import format_table
from ir3de_core import IR3DERouter
from ir3de_core.learn.off_policy import candidate_probabilities
from ir3de_core.learn.off_policy_gain import gain_report

__all__ = ["main"]

ESTIMATORS = ("ips", "snips", "dr")


def fit(data: RoutingData, d: int, alpha: float | str = "auto") -> IR3DERouter:
    """A quality-mode router on every score of `data`."""
    router = IR3DERouter(
        {"kind": "hashing", "n_features": d, "tfidf": False},
        target="quality",
        alpha=alpha,
        safe_default=False,
    )
    labels = [dict(zip(data.experts, row.tolist(), strict=True)) for row in data.scores]
    return router.fit(data.prompts, labels)


def logged(
    router: IR3DERouter, stream: RoutingData, how: str, seed: int, floor: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The logging policy's choices, their propensities and every expert's μ: (n,), (n,), (n, k)."""
    experts = list(router.experts_)
    rng = np.random.default_rng(seed)
    if how == "thompson":
        policy = router.policy_.replace(
            explore="thompson", explore_strength=1.0, explore_share=0.5, explore_seed=seed
        )
        if floor is not None:
            policy = policy.replace(explore_floor=floor)
        decisions = router.route(stream.prompts, policy=policy)
        spread = np.array([[d.propensities.get(e, 0.0) for e in experts] for d in decisions])
        chosen = np.array([experts.index(d.expert) for d in decisions])
        return chosen, spread[np.arange(len(chosen)), chosen], spread
    epsilon = 0.3
    greedy = np.array([experts.index(e) for e in router.predict(stream.prompts)])
    spread = np.full((len(greedy), len(experts)), epsilon / len(experts))
    spread[np.arange(len(greedy)), greedy] += 1 - epsilon
    chosen = np.array([rng.choice(len(experts), p=row) for row in spread])
    return chosen, spread[np.arange(len(chosen)), chosen], spread


def constant(data: RoutingData, expert: int) -> IR3DERouter:
    """A router that always picks `expert` (its scores: 1 for it, 0 for the rest)."""
    small = data.subset(np.arange(min(50, len(data))))
    router = IR3DERouter(
        {"kind": "hashing", "n_features": 16}, target="quality", safe_default=False
    )
    prior = {e: (1.0 if j == expert else 0.0) for j, e in enumerate(data.experts)}
    return router.fit(small.prompts, [prior] * len(small))


def candidates(part_b: RoutingData, logger: IR3DERouter, d: int) -> dict[str, Any]:
    """The candidates, settings fixed in advance (never chosen on the held-out stream); None
    is the uniformly random policy."""
    ranked = np.argsort(-part_b.scores.mean(axis=0))
    return {
        f"ridge d={d} (part B)": fit(part_b, d),
        f"ridge d={d}, alpha=0.1": fit(part_b, d, alpha=0.1),
        "ridge on 100 prompts": fit(part_b.subset(np.arange(min(100, len(part_b)))), d),
        "best single expert": constant(part_b, int(ranked[0])),
        "3rd best single expert": constant(part_b, int(ranked[2])),
        "uniform random": None,
        "logging router, greedy": logger,
    }


def evaluate(
    name: str,
    router: IR3DERouter | None,
    stream: RoutingData,
    log: tuple[np.ndarray, np.ndarray, np.ndarray],
    seed: int,
) -> dict[str, Any]:
    """One candidate on one log: the truth, each estimate and interval, covered or not."""
    chosen, propensity, spread = log
    experts = list(stream.experts)
    if router is None:
        pi, quality = np.full(spread.shape, 1 / len(experts)), None
    else:
        pi, quality = candidate_probabilities(router.route(stream.prompts), experts)
    rows = np.arange(len(chosen))
    rewards = stream.scores[rows, chosen]
    truth = float((pi * stream.scores).sum(axis=1).mean())
    report = gain_report(rewards, chosen, propensity, pi, quality, logging_spread=spread, seed=seed)
    out: dict[str, Any] = {
        "candidate": name, "seed": seed, "truth": truth,
        "truth_gain": truth - float(rewards.mean()), "unsupported": report.unsupported,
        "effective_n": report.values.effective_n,
    }  # fmt: skip
    for key in ESTIMATORS:
        e = getattr(report.values, key)
        out[key] = {"value": e.value, "low": e.low, "high": e.high, "covered": e.contains(truth)}
    for key, e in (("snips_gain", report.snips_gain), ("dr_gain", report.dr_gain)):
        covered = e.contains(out["truth_gain"])
        out[key] = {"value": e.value, "low": e.low, "high": e.high, "covered": covered}
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Print the estimate-vs-truth table and the coverage summary."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.off_policy")
    parser.add_argument("--data", default="../shared/data/routerdc")
    parser.add_argument("--per-task", type=int, default=300, help="training prompts per task")
    parser.add_argument("--stream", type=int, default=2000, help="held-out prompts per seed")
    parser.add_argument("--features", type=int, default=256, help="hash buckets d")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--logging", nargs="+", default=["thompson", "epsilon-greedy"])
    parser.add_argument("--floor", type=float, default=None,
                        help="the Thompson logger's explore_floor (default: the policy's)")  # fmt: skip
    parser.add_argument("--json", help="also write every number to this file")
    args = parser.parse_args(argv)
    train = load_routerdc_split(args.data, "train", limit=args.per_task, seed=0)
    test = load_routerdc_split(args.data, "test")
    order = np.random.default_rng(0).permutation(len(train))
    part_a, part_b = train.subset(order[: len(order) // 3]), train.subset(order[len(order) // 3 :])
    logger = fit(part_a, args.features)
    routers = candidates(part_b, logger, args.features)
    results: list[dict[str, Any]] = []
    for how in args.logging:
        for seed in range(args.seeds):
            pick = np.random.default_rng(100 + seed).choice(len(test), args.stream, replace=False)
            stream = test.subset(np.sort(pick))
            log = logged(logger, stream, how, seed, args.floor)
            for name, router in routers.items():
                results.append({"logging": how, **evaluate(name, router, stream, log, seed)})
    print_tables(results, args)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    return 0


def print_tables(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Per candidate and seed: truth, each estimate with its interval; then the coverage."""
    print(
        f"RouterDC off-policy estimates vs truth: {args.stream} held-out prompts per seed, "
        f"{args.seeds} seeds, d={args.features}, 95 % bootstrap intervals (values in %)"
    )
    rows = []
    for r in results:
        cells = [r["logging"], r["candidate"], r["seed"], 100 * r["truth"]]
        for key in ("snips", "dr"):
            e = r[key]
            interval = f"{100 * e['value']:.2f} [{100 * e['low']:.2f}, {100 * e['high']:.2f}]"
            cells += [interval, "yes" if e["covered"] else "NO"]
        rows.append(cells)
    header = ["logging", "candidate", "seed", "truth", "SNIPS [interval]", "covered",
              "DR [interval]", "covered"]  # fmt: skip
    print(format_table(header, rows))
    summary = []
    for how in dict.fromkeys(r["logging"] for r in results):
        mine = [r for r in results if r["logging"] == how]
        for key in (*ESTIMATORS, "snips_gain", "dr_gain"):
            covered = np.mean([r[key]["covered"] for r in mine])
            width = np.mean([r[key]["high"] - r[key]["low"] for r in mine])
            error = np.mean(
                [abs(r[key]["value"] - r["truth_gain" if "gain" in key else "truth"]) for r in mine]
            )
            summary.append([how, key, 100 * covered, 100 * width, 100 * error, len(mine)])
    print("\ncoverage of the truth by each estimator's 95 % interval:")
    print(
        format_table(
            ["logging", "estimator", "covered %", "mean width", "mean |error|", "cases"], summary
        )
    )


if __name__ == "__main__":
    raise SystemExit(main())
