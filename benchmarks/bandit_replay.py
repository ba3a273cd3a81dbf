"""Bandit replay on RouterDC: does exploring beat greedy when only the chosen expert is scored?

RouterDC publishes every expert's score on every prompt, so the reward of any choice is known.
The replay (`ir3de_core.learn.replay`):

1. a router (`--featurizer`: static token embeddings pooled per prompt by default; quality
   target, α by the fit's CV, no safe-default threshold) is fitted on the first
   `--seed-prompts` prompts of a shuffled training stream with every score;
2. the rest of the stream is served one prompt at a time: only the chosen expert's score is
   revealed and folded in by the router's online (rank-one) update, which chooses α again as
   the feedback doubles the data ("greedy, seed α kept" is the router with the seed's α set);
3. each method's cumulative reward and regret (best expert's score − the chosen one's) are
   reported, and its final router's test accuracy (the plain mean of the five task accuracies,
   RouterDC's headline rule) next to a router fitted on the same stream with every score.

Methods: greedy; LinUCB and Thompson sampling (`RoutingPolicy(explore=...)`), their strength
chosen by `choose_strength` on a separate training stream (never the test split); ε-greedy, ε
chosen on that stream too. Off-policy evaluation: the Thompson run's log (its propensities and
rewards) estimates the value of a candidate router fitted on the tuning stream, compared with
that router's true value on the logged prompts. Run::

    .venv/bin/python -m benchmarks.bandit_replay --data ../shared/data/routerdc \
        --featurizer tokens --test-limit 150 --tune-steps 400

``--off-policy-only --stream-steps 1000`` replays Thompson alone on a shorter stream (the
off-policy check, with the log's overlap: docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common.features import PrecomputedFeaturizer, cached, embed_and_save
from benchmarks.routerdc.data import RoutingData, load_routerdc_split, task_accuracy
from ir3de_cli.report import format_table
from ir3de_core import IR3DERouter
from ir3de_core.featurizers import make_featurizer
from ir3de_core.learn.off_policy import candidate_probabilities, off_policy_report
from ir3de_core.learn.replay import ReplayResult, choose_strength, replay

__all__ = ["main"]

STRENGTHS = (0.01, 0.03, 0.1, 0.3)
EPSILONS = (0.02, 0.05, 0.1, 0.2)
KEPT = "greedy, seed α kept"
METHODS = (KEPT, "greedy", "linucb", "thompson", "epsilon-greedy")


def featurizer(kind: str, d: int, cache: str, *prompts: Sequence[str]) -> Any:
    """``hashing`` (d buckets, no TF-IDF), or ``sentence`` rows embedded once (kept in `cache`)."""
    if kind == "hashing":
        return {"kind": "hashing", "n_features": d, "tfidf": False}
    if kind == "tokens":  # static token embeddings, pooled per prompt (rows: exploration works)
        return "tokens"
    encoder = cached(make_featurizer(kind), cache)
    texts = [p for group in prompts for p in group]
    chunks = [texts[i : i + 512] for i in range(0, len(texts), 512)]
    rows = [embed_and_save(encoder, chunk)[0] for chunk in chunks]  # saved as it goes
    return PrecomputedFeaturizer(texts, np.vstack(rows))


def fit(data: RoutingData, features: Any) -> IR3DERouter:
    """A quality-mode router on every score of `data` (α chosen by the fit's cross-validation)."""
    router = IR3DERouter(features, target="quality", safe_default=False, aggregation="pooled")
    labels = [dict(zip(data.experts, row.tolist(), strict=True)) for row in data.scores]
    return router.fit(data.prompts, labels)


def with_floor(router: IR3DERouter, floor: float | None) -> IR3DERouter:
    """`router` with its policy's ``explore_floor`` set (None: left as it is)."""
    if floor is not None:
        router.set_policy(router.policy_.replace(explore_floor=floor))
    return router


def epsilon_greedy(epsilon: float, seed: int) -> Any:
    """``decide`` for `replay`: a uniform random expert with probability ε, else greedy."""
    rng = np.random.default_rng(seed)

    def decide(router: IR3DERouter, prompt: str) -> tuple[str, float]:
        greedy = router.route([prompt])[0].expert
        experts = list(router.experts_)
        expert = experts[int(rng.integers(len(experts)))] if rng.random() < epsilon else greedy
        spread = {e: (1 - epsilon) * (e == greedy) + epsilon / len(experts) for e in experts}
        return expert, spread[expert], spread

    return decide


def run(
    start: IR3DERouter, stream: RoutingData, method: str, strength: float, seed: int
) -> tuple[ReplayResult, IR3DERouter, float]:
    """One replay from a copy of `start`: result, final router, seconds per step."""
    router = copy.copy(start)
    decide = None
    if method == "epsilon-greedy":
        decide = epsilon_greedy(strength, seed)
    elif method == KEPT:  # a set α: the router never chooses it again from its feedback
        router.set_params(alpha=start.alpha_)
    elif method != "greedy":
        router.set_policy(
            router.policy_.replace(
                explore=method, explore_strength=strength, explore_share=1.0, explore_seed=seed
            )
        )
    began = time.perf_counter()
    result = replay(router, stream.prompts, stream.scores, decide=decide)
    return result, router, (time.perf_counter() - began) / len(stream)


def tune(
    start: IR3DERouter, stream: RoutingData, seed: int, methods: Sequence[str] = METHODS
) -> dict[str, tuple[float, dict[float, float]]]:
    """Each exploring method's strength (ε for ε-greedy) chosen by replay on `stream`."""
    chosen = {}
    for method in [m for m in ("linucb", "thompson") if m in methods]:
        chosen[method] = choose_strength(
            start, stream.prompts, stream.scores, explore=method, strengths=STRENGTHS, seed=seed
        )
    if "epsilon-greedy" not in methods:
        return chosen
    earned = {e: run(start, stream, "epsilon-greedy", e, seed)[0].mean_reward for e in EPSILONS}
    chosen["epsilon-greedy"] = (max(earned, key=earned.__getitem__), earned)
    return chosen


def test_accuracy(router: IR3DERouter, test: RoutingData) -> float:
    """RouterDC's headline: the mean of the task accuracies of the greedy decisions."""
    experts = list(router.experts_)
    choices = np.array([experts.index(e) for e in router.predict(test.prompts)])
    return task_accuracy(test, choices)["average"]


def main(argv: Sequence[str] | None = None) -> int:
    """Print the replay table, the tuning and the off-policy check."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bandit_replay")
    parser.add_argument("--data", default="../shared/data/routerdc")
    parser.add_argument("--per-task", type=int, default=None, help="training prompts per task")
    parser.add_argument("--seed-prompts", type=int, default=50)
    parser.add_argument("--featurizer", choices=("sentence", "tokens", "hashing"),
                        default="tokens")  # fmt: skip
    parser.add_argument("--features", type=int, default=256, help="hash buckets d (hashing)")
    parser.add_argument("--cache", default=str(Path.home() / ".cache/ir3de/bench"),
                        help="sentence rows are kept here between runs")  # fmt: skip
    parser.add_argument("--test-limit", type=int, default=None, help="test prompts per task")
    parser.add_argument("--tune-steps", type=int, default=None, help="tuning stream length")
    parser.add_argument("--stream-steps", type=int, default=None, help="main stream length")
    parser.add_argument("--off-policy-only", action="store_true",
                        help="tune and replay Thompson only (the off-policy check)")  # fmt: skip
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--floor", type=float, default=None,
                        help="explore_floor of LinUCB/Thompson (default: the policy's)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write every number to this file")
    args = parser.parse_args(argv)
    train = load_routerdc_split(args.data, "train", limit=args.per_task, seed=args.seed)
    test = load_routerdc_split(args.data, "test", limit=args.test_limit, seed=args.seed)
    features = featurizer(args.featurizer, args.features, args.cache, train.prompts, test.prompts)
    order = np.random.default_rng(args.seed).permutation(len(train))
    half = len(order) // 2
    tuning, main_stream = train.subset(order[:half]), train.subset(order[half:])
    s = args.seed_prompts
    tune_start = with_floor(fit(tuning.subset(np.arange(s)), features), args.floor)
    end = len(tuning) if args.tune_steps is None else min(len(tuning), s + args.tune_steps)
    methods = ("thompson",) if args.off_policy_only else tuple(args.methods)
    chosen = tune(tune_start, tuning.subset(np.arange(s, end)), args.seed, methods)
    start = with_floor(fit(main_stream.subset(np.arange(s)), features), args.floor)
    stop = len(main_stream) if args.stream_steps is None else s + args.stream_steps
    stream = main_stream.subset(np.arange(s, min(stop, len(main_stream))))
    full = fit(main_stream, features)
    rows: list[list[Any]] = []
    results: dict[str, Any] = {}
    logs: dict[str, ReplayResult] = {}
    for method in methods:
        strength = chosen[method][0] if method in chosen else 0.0
        result, final, seconds = run(start, stream, method, strength, args.seed)
        accuracy = test_accuracy(final, test)
        logs[method] = result
        results[method] = {
            "strength": strength, "mean_reward": result.mean_reward, "regret": result.regret,
            "test_accuracy": accuracy, "ms_per_step": 1000 * seconds,
        }  # fmt: skip
        rows.append([method, strength, 100 * result.mean_reward, result.regret, accuracy,
                     1000 * seconds])  # fmt: skip
    rows.append(["full feedback fit", None, None, None, test_accuracy(full, test), None])
    rows.append(["seed fit only", None, None, None, test_accuracy(start, test), None])
    d = full.n_features_in_
    print(f"RouterDC bandit replay: {len(stream)} steps after {s} seed prompts, "
          f"{args.featurizer} d={d}, α: seed {start.alpha_:g}, full fit {full.alpha_:g}, "
          f"explore_floor {start.policy_.explore_floor:g}")  # fmt: skip
    print(format_table(["method", "strength", "mean reward %", "regret", "test acc %",
                        "ms/step"], rows))  # fmt: skip
    print("\nstrength chosen by replay on the tuning stream (mean reward per candidate):")
    for method, (best, earned) in chosen.items():
        cells = ", ".join(f"{k:g}: {100 * v:.2f}" for k, v in earned.items())
        print(f"  {method}: {best:g}  ({cells})")
    ope: list[list[Any]] = []
    if "thompson" in logs:
        ope = off_policy(logs["thompson"], stream, fit(tuning, features), args.seed)
        print("\n" + format_table(["off-policy (Thompson log)", "value %", "low", "high"], ope))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"results": results, "tuning": {m: c[1] for m, c in chosen.items()},
                       "off_policy": ope}, f, indent=2, default=str)  # fmt: skip
    return 0


def off_policy(
    log: ReplayResult, stream: RoutingData, candidate: IR3DERouter, seed: int
) -> list[list[Any]]:
    """The candidate's value on the logged prompts: true, and estimated from the log."""
    experts = list(log.experts)
    pi, quality = candidate_probabilities(candidate.route(stream.prompts), experts)
    true = float((pi * stream.scores).sum(axis=1).mean())
    report = off_policy_report(
        log.rewards, log.chosen, log.propensities, pi, quality, logging_spread=log.spread,
        reward_range=(0.0, 1.0), seed=seed,
    )  # fmt: skip
    rows: list[list[Any]] = [["candidate, true value", 100 * true, None, None]]
    for name, e in (("IPS", report.ips), ("SNIPS", report.snips), ("DR", report.dr),
                    ("logging policy", report.logging)):  # fmt: skip
        rows.append([name, 100 * e.value, 100 * e.low, 100 * e.high])
    o = report.overlap
    if log.spread is not None:  # what the interval would be without the logged spread
        blind = off_policy_report(log.rewards, log.chosen, log.propensities, pi, quality,
                                  reward_range=(0.0, 1.0), seed=seed)  # fmt: skip
        for name, e in (("IPS, propensities only", blind.ips),
                        ("DR, propensities only", blind.dr)):  # fmt: skip
            rows.append([name, 100 * e.value, 100 * e.low, 100 * e.high])
    print(f"overlap: mean weight {o.weight_mean:.2f} ({o.weight_low:.2f}–{o.weight_high:.2f}; "
          f"1 = covered), unsupported mass {100 * o.unsupported:.1f}%, effective n "
          f"{o.effective_n:.1f}\n  {o.warning() or 'the log covers the candidate'}")  # fmt: skip
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
