"""Issue 6 benchmark: cost–quality curves, cascades, unseen LLMs and online feedback.

    .venv/bin/python benchmarks/costs.py --data ../shared/data [--part all] [--splits 20]

Parts: ``routerbench`` (AIQ, GPT-4-quality cost, APGR/CPT, a PNG), ``unseen`` (UniRoute and the
ridge router's ``add_expert`` over random seen/unseen splits of the LLMs, on routerdc and
routerbench), ``feedback`` (a replay of the routerbench train split). Sentence embeddings
(all-MiniLM-L6-v2) are cached in ``--cache`` (a temporary directory, never the repository).
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ir3de_core import IR3DERouter
from ir3de_core.costs import (
    Cascade,
    CostTable,
    KNNQualityRouter,
    MLPQualityRouter,
    PrecomputedFeaturizer,
    RankOneRidge,
    UniRouteRouter,
    aiq,
    apgr,
    cached_transform,
    calibrate_budget,
    cascade_order,
    choose,
    cost_table,
    cost_to_reach,
    cpt,
    lambda_grid,
    plot_cost_quality,
    replay_feedback,
)
from ir3de_core.data import Record, load_records
from ir3de_core.featurizers import make_featurizer
from ir3de_core.report import format_table

GPT4, WEAK = "gpt-4-1106-preview", "mistralai/mixtral-8x7b-chat"
ALPHAS = (3.0, 10.0, 30.0, 100.0)
FEATURIZER: dict[str, Any] = {"kind": "sentence"}  # all-MiniLM-L6-v2; --featurizer hashing: fast


# ---------------------------------------------------------------- data
def load(data: Path, name: str, cache: Path) -> tuple[CostTable, CostTable, PrecomputedFeaturizer]:
    """Train and test tables of one data set, with a featurizer over their cached embeddings."""
    tables = []
    for split in ("train", "test"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            records = load_records([data / name], split=split)
        table, report = cost_table(records)
        problems = "; ".join(report.lines()) or "no problems"
        print(f"{name}/{split}: {report.rows_in} rows read, {table.n} kept — {problems}")
        tables.append(table)
    train, test = tables
    featurizer = make_featurizer(FEATURIZER)
    x = [cached_transform(featurizer, t.prompts, cache) for t in (train, test)]
    return train, test, PrecomputedFeaturizer(train.prompts + test.prompts, np.vstack(x))


def rows(table: CostTable) -> list[dict[str, float]]:
    """`IR3DERouter.fit`'s y: one {expert: score} per prompt (NaN left out)."""
    return [
        {e: float(v) for e, v in zip(table.experts, r, strict=True) if not np.isnan(v)}
        for r in table.scores
    ]


def ridge(table: CostTable, featurizer: Any, alpha: float, values: Any = None) -> IR3DERouter:
    """A quality-mode ridge router (or, with `values`, a per-expert cost regressor)."""
    y = (
        rows(table)
        if values is None
        else [dict(zip(table.experts, r, strict=True)) for r in values]
    )
    router = IR3DERouter(featurizer, target="quality", alpha=alpha, missing_scores="ignore")
    return router.fit(table.prompts, y)


def task_average(table: CostTable, choice: np.ndarray) -> float:
    """RouterDC's headline: the plain mean over tasks of the chosen experts' mean score, in %."""
    got = table.scores[np.arange(table.n), choice]
    tasks = np.asarray(table.tasks)
    return 100 * float(np.mean([got[tasks == t].mean() for t in sorted(set(table.tasks))]))


# ---------------------------------------------------------------- routerbench: cost–quality
def curve(quality: np.ndarray, est: np.ndarray, test: CostTable) -> tuple[list, list]:
    """Realised (cost, quality) on test of argmax(quality − λ·estimated cost) over λ."""
    points = ([], [])
    for lam in lambda_grid(quality, est, 200):
        picked = choose(quality, est, lam)
        points[0].append(float(test.costs[np.arange(test.n), picked].mean()))
        points[1].append(float(test.scores[np.arange(test.n), picked].mean()))
    return points


def pick_alpha(train: CostTable, featurizer: Any) -> float:
    """The ridge penalty with the best AIQ on a held-out quarter of the train split."""
    rng = np.random.default_rng(0)
    held = rng.permutation(train.n)
    fit_part, val = train.rows(held[train.n // 4 :]), train.rows(held[: train.n // 4])
    est = np.tile(fit_part.costs.mean(axis=0), (val.n, 1))
    scores = {}
    for alpha in ALPHAS:
        quality = ridge(fit_part, featurizer, alpha).decision_function(val.prompts)
        scores[alpha] = aiq(*curve(quality, est, val))
    print("validation AIQ by alpha: " + ", ".join(f"{a:g}: {v:.4f}" for a, v in scores.items()))
    return max(scores, key=lambda a: scores[a])


def predictors(train: CostTable, featurizer: Any, alpha: float) -> dict[str, Any]:
    """Quality predictors fitted on the train split."""
    models: dict[str, Any] = {f"ridge (α={alpha:g})": ridge(train, featurizer, alpha)}
    for k in (5, 10, 40):
        models[f"kNN k={k}"] = KNNQualityRouter(featurizer, n_neighbors=k).fit(
            train.prompts, train.scores, experts=train.experts
        )
    models["MLP"] = MLPQualityRouter(featurizer).fit(
        train.prompts, train.scores, experts=train.experts
    )
    return models


def cascade_curves(
    train: CostTable, test: CostTable, quality: np.ndarray
) -> dict[str, tuple[list, list]]:
    """Cascades over the train split's Pareto-efficient LLMs, cheapest first, for thresholds."""
    mean_cost, mean_q = train.costs.mean(axis=0), train.scores.mean(axis=0)
    order = [
        j for j in cascade_order(mean_cost) if mean_q[j] >= mean_q[mean_cost <= mean_cost[j]].max()
    ]
    chain = [test.experts[j] for j in order]
    print("cascade chain: " + " → ".join(chain))
    out: dict[str, tuple[list, list]] = {
        "cascade (ridge quality)": ([], []),
        "cascade (oracle verifier)": ([], []),
    }
    for threshold in np.linspace(0.0, 1.0, 41):
        cascade = Cascade(order=order, threshold=float(threshold))
        results = {
            "cascade (ridge quality)": cascade.run(test.costs, quality=quality),
            "cascade (oracle verifier)": cascade.run(test.costs, quality=test.scores),
        }
        for name, result in results.items():
            out[name][0].append(result.average_cost)
            out[name][1].append(result.quality(test.scores))
    return out


def part_routerbench(data: Path, cache: Path, out_dir: Path) -> None:
    print("\n## routerbench: cost–quality (train → test)")
    train, test, featurizer = load(data, "routerbench", cache)
    alpha = pick_alpha(train, featurizer)
    cost_model = ridge(train, featurizer, 0.1, values=train.costs)
    est = cost_model.decision_function(test.prompts)  # predicted per-query cost of each LLM
    single = {
        e: (float(test.costs[:, j].mean()), float(test.scores[:, j].mean()))
        for j, e in enumerate(test.experts)
    }
    low, high = min(c for c, _ in single.values()), max(c for c, _ in single.values())
    curves: dict[str, tuple[list, list]] = {
        "zero router": tuple(map(list, zip(*single.values(), strict=True)))
    }  # type: ignore[dict-item]
    qualities: dict[str, np.ndarray] = {}
    for name, model in predictors(train, featurizer, alpha).items():
        qualities[name] = model.decision_function(test.prompts)
        curves[name] = curve(qualities[name], est, test)
    ridge_name = next(iter(qualities))
    curves.update(cascade_curves(train, test, qualities[ridge_name]))
    curves["oracle"] = curve(test.scores, test.costs, test)
    target_q, gpt4_cost = single[GPT4][1], single[GPT4][0]
    table = []
    for name, (c, q) in curves.items():
        reach = cost_to_reach(c, q, target_q)
        share = None if reach is None else 100 * reach / gpt4_cost
        table.append([name, aiq(c, q, cost_range=(low, high)), max(q), reach, share])
    print(
        f"GPT-4 alone: quality {target_q:.4f} at {gpt4_cost:.6f} USD/query; AIQ over [{low:.2e}, {high:.2e}] USD"
    )
    print(
        format_table(
            ["router", "AIQ", "best quality", "USD/query at GPT-4 quality", "% of GPT-4 cost"],
            table,
            digits=4,
        )
    )
    budget_demo(train, test, featurizer, alpha, est, gpt4_cost)
    two_model(test, qualities)
    png = plot_cost_quality(
        curves,
        out_dir / "routerbench_cost_quality.png",
        title="RouterBench (winogrande + mbpp), test",
        markers=single,
    )
    print(f"cost–quality curves: {png}")


def budget_demo(
    train: CostTable,
    test: CostTable,
    featurizer: Any,
    alpha: float,
    est: np.ndarray,
    gpt4_cost: float,
) -> None:
    """λ calibrated by bisection on a held-out quarter of train for budgets, applied to test."""
    rng = np.random.default_rng(1)
    held = rng.permutation(train.n)
    fit_part, calib = train.rows(held[train.n // 4 :]), train.rows(held[: train.n // 4])
    model = ridge(fit_part, featurizer, alpha)
    calib_est = ridge(fit_part, featurizer, 0.1, values=fit_part.costs).decision_function(
        calib.prompts
    )
    quality_test = model.decision_function(test.prompts)
    out = []
    for share in (0.1, 0.3, 0.5):
        budget = share * gpt4_cost
        point = calibrate_budget(
            model.decision_function(calib.prompts), calib_est, budget, scores=calib.scores
        )
        picked = choose(quality_test, est, point.lam)
        out.append(
            [
                f"{100 * share:.0f}% of GPT-4",
                budget,
                f"{point.lam:.4g}",
                point.cost,
                float(test.costs[np.arange(test.n), picked].mean()),
                float(test.scores[np.arange(test.n), picked].mean()),
            ]
        )
    print(
        format_table(
            ["budget", "USD/query", "λ", "calibration cost", "test cost", "test quality"],
            out,
            digits=6,
        )
    )


def two_model(test: CostTable, qualities: dict[str, np.ndarray]) -> None:
    """RouteLLM's setting: GPT-4 (strong) vs Mixtral-8x7B (weak)."""
    s, w = test.experts.index(GPT4), test.experts.index(WEAK)
    out = []
    for name, q in {
        **qualities,
        "random": np.random.default_rng(0).random(test.scores.shape),
    }.items():
        pref = q[:, s] - q[:, w]
        args = (pref, test.scores[:, s], test.scores[:, w])
        out.append([name, apgr(*args), 100 * cpt(*args, 0.5), 100 * cpt(*args, 0.8)])
    print(f"\ntwo-model routing, strong {GPT4} vs weak {WEAK} (test):")
    print(
        format_table(
            ["router", "APGR", "CPT(50%) % strong calls", "CPT(80%) % strong calls"], out, digits=3
        )
    )


# ---------------------------------------------------------------- bad data
def part_bad_data(data: Path) -> None:
    """Corrupt a copy of the routerbench test split in memory and show how it is handled."""
    print("\n## routerbench test with injected bad data (in memory)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        records = load_records([data / "routerbench"], split="test")
    rng = np.random.default_rng(0)
    corrupted = []
    for r in records:
        scores, costs = dict(r.scores), dict(r.costs)
        if rng.random() < 0.03:  # an empty score cell
            scores.pop(str(rng.choice(list(scores))))
        if rng.random() < 0.05:  # a price of zero
            costs[str(rng.choice(list(costs)))] = 0.0
        costs["never-scored-llm"] = 0.001  # priced, never scored
        corrupted.append(Record(r.prompt, scores, costs, r.domain, r.task))
    table, report = cost_table(corrupted)
    print(f"{report.rows_in} rows read, {table.n} kept, {len(table.experts)} experts")
    for line in report.lines():
        print(f"- {line}")


# ---------------------------------------------------------------- unseen LLMs
def unseen_once(
    train: CostTable,
    test: CostTable,
    featurizer: Any,
    base: dict[str, Any],
    seen: list[str],
    unseen: list[str],
) -> dict[str, float]:
    """One split: seen LLMs from the full train split, unseen ones from the representatives."""
    reps = base["reps"]
    rep_prompts = [train.prompts[i] for i in reps]
    col = {e: train.experts.index(e) for e in train.experts}
    out: dict[str, float] = {}
    router = IR3DERouter(featurizer, target="quality", alpha=base["alpha"], missing_scores="ignore")
    router.fit_statistics(base["stats"].select(seen))
    for e in unseen:
        router.add_expert(e, rep_prompts, train.scores[reps, col[e]])
    out["ridge + add_expert"] = _accuracy(router, test)
    knn = KNNQualityRouter(featurizer, n_neighbors=10).fit(
        train.prompts, train.columns(seen).scores, experts=seen
    )
    for e in unseen:
        knn.add_expert(e, rep_prompts, train.scores[reps, col[e]])
    out["kNN k=10 (same data)"] = _accuracy(knn, test)
    for name, full_uni in base["uniroute"].items():
        uni = copy.copy(full_uni)  # shares the clusters; remove/add replace (never mutate) arrays
        for e in unseen:
            uni.remove_llm(e)
        for e in unseen:
            uni.add_llm(e, rep_prompts, train.scores[reps, col[e]])
        out[name] = _accuracy(uni, test)
    return out


def pick_alpha_accuracy(train: CostTable, featurizer: Any) -> float:
    """The ridge penalty with the best average accuracy on a held-out quarter of train."""
    held = np.random.default_rng(0).permutation(train.n)
    fit_part, val = train.rows(held[train.n // 4 :]), train.rows(held[: train.n // 4])
    scores = {a: _accuracy(ridge(fit_part, featurizer, a), val) for a in (1.0, *ALPHAS)}
    print(
        "validation accuracy by alpha: " + ", ".join(f"{a:g}: {v:.2f}" for a, v in scores.items())
    )
    return max(scores, key=lambda a: scores[a])


def _accuracy(model: Any, test: CostTable) -> float:
    quality = model.decision_function(test.prompts)
    picked = [test.experts.index(model.experts_[j]) for j in quality.argmax(axis=1)]
    return task_average(test, np.asarray(picked))


def part_unseen(
    data: Path, cache: Path, name: str, n_splits: int, n_reps: int, reps_from: str
) -> None:
    print(
        f"\n## {name}: unseen LLMs, {n_splits} random splits (2/3 seen, 1/3 added from {n_reps} prompts)"
    )
    train, test, featurizer = load(data, name, cache)
    alpha = pick_alpha_accuracy(train, featurizer)
    full = ridge(train, featurizer, alpha)
    clusters = UniRouteRouter(featurizer, n_clusters=20).fit(train.prompts)
    if reps_from == "clusters":
        reps = clusters.representatives(train.prompts, n=n_reps)
    else:
        reps = np.random.default_rng(1).choice(train.n, size=min(n_reps, train.n), replace=False)
    print(f"unseen LLMs are scored on {len(reps)} prompts picked by {reps_from}")
    uniroute = {
        f"UniRoute {a} (K=20)": UniRouteRouter(featurizer, n_clusters=20, assignment=a).fit(
            train.prompts, train.scores, experts=train.experts
        )
        for a in ("hard", "soft")
    }
    base = {"alpha": alpha, "stats": full.statistics_, "reps": reps, "uniroute": uniroute}
    knn_full = KNNQualityRouter(featurizer, n_neighbors=10).fit(
        train.prompts, train.scores, experts=train.experts
    )
    reference = {"(a) ridge refitted on full data": _accuracy(full, test),
                 "kNN k=10 refitted on full data": _accuracy(knn_full, test)}  # fmt: skip
    for label, model in uniroute.items():
        reference[f"{label}, all LLMs on full data"] = _accuracy(model, test)
    best = max(task_average(test, np.full(test.n, j)) for j in range(len(test.experts)))
    rng = np.random.default_rng(0)
    k_seen = round(2 * len(train.experts) / 3)
    results: dict[str, list[float]] = {}
    for _ in range(n_splits):
        perm = [train.experts[i] for i in rng.permutation(len(train.experts))]
        for key, value in unseen_once(
            train, test, featurizer, base, perm[:k_seen], perm[k_seen:]
        ).items():
            results.setdefault(key, []).append(value)
    refit = reference["(a) ridge refitted on full data"]
    table = [[k, v, None, None, None] for k, v in reference.items()]
    table.append(["best single LLM (test)", best, None, None, None])
    for key, values in results.items():
        v = np.asarray(values)
        table.append(
            [
                key,
                float(v.mean()),
                float(v.std()),
                f"{v.min():.2f}–{v.max():.2f}",
                float(v.mean() - refit),
            ]
        )
    headers = ["router", "avg accuracy %", "std over splits", "min–max", "vs refitted ridge"]
    print(format_table(headers, table))


# ---------------------------------------------------------------- online feedback
def part_feedback(data: Path, cache: Path, seed_size: int = 50) -> None:
    print(
        f"\n## routerbench: online feedback replay (seed {seed_size} prompts, then bandit feedback)"
    )
    train, test, featurizer = load(data, "routerbench", cache)
    rng = np.random.default_rng(0)
    order = rng.permutation(train.n)
    seed, stream = train.rows(order[:seed_size]), train.rows(order[seed_size:])
    router = ridge(seed, featurizer, 10.0)

    def held_out() -> float:
        picked = router.decision_function(test.prompts).argmax(axis=1)
        return float(test.scores[np.arange(test.n), picked].mean())

    def update(i: int, j: int, score: float) -> None:
        router.partial_fit([stream.prompts[i]], [{stream.experts[j]: score}])

    steps = replay_feedback(
        update,
        lambda idx: router.decision_function([stream.prompts[i] for i in idx]),
        stream.scores,
        held_out,
        every=200,
        explore=0.1,
    )
    full = held_out_of(ridge(train, featurizer, 10.0), test)
    print(
        format_table(
            ["feedback events", "test quality (argmax)", "ms per partial_fit"],
            [[s.events, s.metric, 1000 * s.seconds] for s in steps],
            digits=4,
        )
    )
    print(f"reference: ridge fitted on every train score (full information): {full:.4f}")
    timing_rank_one(router, featurizer, stream)


def held_out_of(model: Any, test: CostTable) -> float:
    picked = model.decision_function(test.prompts).argmax(axis=1)
    return float(test.scores[np.arange(test.n), picked].mean())


def timing_rank_one(router: IR3DERouter, featurizer: Any, stream: CostTable, n: int = 200) -> None:
    fast = RankOneRidge.from_statistics(router.statistics_, alpha=float(router.alpha))
    x = featurizer.transform(stream.prompts[:n]).astype(np.float64)
    start = time.perf_counter()
    for i in range(n):
        fast.update(
            x[i],
            stream.experts[i % len(stream.experts)],
            float(stream.scores[i, i % len(stream.experts)]),
        )
    rank_one = (time.perf_counter() - start) / n
    print(
        f"Sherman–Morrison update: {1000 * rank_one:.3f} ms per event (d={x.shape[1]}, k={len(stream.experts)})"
    )


# ---------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, default=Path("../shared/data"), help="the shared routing data"
    )
    parser.add_argument(
        "--part", choices=["all", "routerbench", "baddata", "unseen", "feedback"], default="all"
    )
    parser.add_argument("--splits", type=int, default=20, help="random seen/unseen splits")
    parser.add_argument(
        "--unseen-on", nargs="+", default=["routerbench", "routerdc"], help="data sets"
    )
    parser.add_argument(
        "--reps-from",
        choices=["random", "clusters"],
        default="random",
        help="how the unseen LLMs' scored prompts are picked (UniRoute clusters: round-robin)",
    )
    parser.add_argument("--featurizer", choices=["sentence", "hashing"], default="sentence")
    parser.add_argument("--reps", type=int, default=200, help="scored prompts per unseen LLM")
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "ir3de_costs_cache"
    )
    parser.add_argument(
        "--out-dir", type=Path, default=Path(tempfile.gettempdir()) / "ir3de_costs_out"
    )
    args = parser.parse_args(argv)
    if args.featurizer == "hashing":
        FEATURIZER.clear()
        FEATURIZER.update({"kind": "hashing", "tfidf": False})
    if not (args.data / "routerbench").is_dir() or not (args.data / "routerdc").is_dir():
        print(
            f"skipped: routing data not found at {args.data} (needs routerbench/ and routerdc/); pass --data",
            file=sys.stderr,
        )
        return 0
    if args.part in ("all", "routerbench"):
        part_routerbench(args.data, args.cache, args.out_dir)
    if args.part in ("all", "routerbench", "baddata"):
        part_bad_data(args.data)
    if args.part in ("all", "unseen"):
        for name in args.unseen_on:
            part_unseen(args.data, args.cache, name, args.splits, args.reps, args.reps_from)
    if args.part in ("all", "feedback"):
        part_feedback(args.data, args.cache)
    return 0


if __name__ == "__main__":
    sys.exit(main())
