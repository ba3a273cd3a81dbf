"""The speed benchmark: per-decision latency, batched throughput, fit and add/remove-expert time.

Every router routes the same test prompts, through its public `predict`, featurization included
(no memo: token ids and embeddings are recomputed on every call). Threads are pinned, each timing
is warmed up and repeated, and medians are reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.routerdc import baselines
from benchmarks.routerdc.data import RoutingData, load_routerdc_split
from benchmarks.routerdc.experts import expert_update_rows
from benchmarks.routerdc.variants import Features, Variant, default_variants, fit_on, fit_variant

__all__ = [
    "SpeedOptions",
    "fit_time_rows",
    "pinned_threads",
    "run_speed",
    "time_batch",
    "time_single",
]

Route = Callable[[Sequence[str]], Any]


@dataclass(frozen=True)
class SpeedOptions:
    """Settings of one speed run.

    Attributes:
        data: the RouterDC directory (or its parent).
        n_fit: training prompts per task the routers are fitted on.
        n_prompts: test prompts routed (the batch, and the pool of single prompts).
        n_single: single-prompt decisions timed per repeat.
        repeats: repetitions of every timing (medians are reported).
        warmup: untimed calls before timing.
        threads: BLAS / torch / tokenizer threads.
        sentence: include the routers that need a sentence-transformer forward pass.
        params: router → settings (e.g. the quality run's choices); default: first grid values.
        fit_times_only: time only the fits (defaults against one plain fit), no routing.
    """

    data: Path
    n_fit: int = 200
    n_prompts: int = 1000
    n_single: int = 300
    repeats: int = 3
    warmup: int = 20
    threads: int = 1
    sentence: bool = True
    params: dict[str, dict[str, Any]] | None = None
    fit_times_only: bool = False


def pinned_threads(threads: int) -> Any:
    """A context manager limiting BLAS (and torch, when loaded) to `threads` threads."""
    import sys

    from threadpoolctl import threadpool_limits

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    return threadpool_limits(limits=threads)


def time_single(
    route: Route, prompts: Sequence[str], repeats: int, warmup: int
) -> tuple[float, float]:
    """Median over repeats of the p50 and p99 latency (ms) of routing one prompt at a time."""
    for prompt in prompts[:warmup]:
        route([prompt])
    p50, p99 = [], []
    for _ in range(repeats):
        times = np.empty(len(prompts))
        for i, prompt in enumerate(prompts):
            start = time.perf_counter_ns()
            route([prompt])
            times[i] = time.perf_counter_ns() - start
        p50.append(np.percentile(times, 50) / 1e6)
        p99.append(np.percentile(times, 99) / 1e6)
    return float(np.median(p50)), float(np.median(p99))


def time_batch(route: Route, prompts: Sequence[str], repeats: int) -> float:
    """Median prompts per second when routing `prompts` in one call."""
    route(list(prompts[: min(64, len(prompts))]))
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        route(list(prompts))
        rates.append(len(prompts) / (time.perf_counter() - start))
    return float(np.median(rates))


def _baseline_routes(fit: RoutingData, features: Features) -> dict[str, tuple[float, Route]]:
    """kNN, logistic regression and MLP: (fit seconds incl. embedding, route function)."""
    from sklearn.linear_model import LogisticRegression

    embed = features.sentence.transform
    start = time.perf_counter()
    train_x = embed(fit.prompts)
    embed_seconds = time.perf_counter() - start

    def knn(prompts: Sequence[str]) -> Any:
        return baselines.knn_scores(train_x, fit.scores, embed(prompts), 20).argmax(axis=1)

    start = time.perf_counter()
    models = [LogisticRegression(max_iter=500).fit(train_x, fit.scores[:, j] >= 0.5)
              for j in range(fit.scores.shape[1])]  # fmt: skip
    lr_seconds = time.perf_counter() - start

    def logistic(prompts: Sequence[str]) -> Any:
        x = embed(prompts)
        return np.stack([m.predict_proba(x)[:, 1] for m in models], axis=1).argmax(axis=1)

    from sklearn.neural_network import MLPRegressor

    start = time.perf_counter()
    mlp_model = MLPRegressor(hidden_layer_sizes=(64,), max_iter=200, early_stopping=True,
                             random_state=0).fit(train_x, fit.scores)  # fmt: skip
    mlp_seconds = time.perf_counter() - start

    def mlp(prompts: Sequence[str]) -> Any:
        return mlp_model.predict(embed(prompts)).argmax(axis=1)

    return {
        "kNN on sentence embeddings (k=20)": (embed_seconds, knn),
        "logistic regression on sentence embeddings": (embed_seconds + lr_seconds, logistic),
        "MLP on sentence embeddings": (embed_seconds + mlp_seconds, mlp),
    }


def _variant_routes(
    fit: RoutingData, features: Features, variants: Sequence[Variant], params: dict[str, Any]
) -> dict[str, tuple[float, Route]]:
    out: dict[str, tuple[float, Route]] = {}
    for variant in variants:
        chosen = params.get(variant.name) or {k: v[0] for k, v in variant.grid.items()}
        start = time.perf_counter()
        router = fit_variant(variant, chosen, fit, features)
        out[variant.name] = (time.perf_counter() - start, router.predict)
    return out


def fit_time_rows(
    fit: RoutingData, features: Features, *, sentence: bool, repeats: int = 3
) -> list[dict[str, Any]]:
    """Seconds of a defaults fit (``"auto"``: folds, the α grid, the aggregation and the safe
    default, all cross-validated) against one plain fit (α = 1, a fixed aggregation, nothing
    tuned), featurizing included; the featurizers are loaded before timing, and token fits
    (a second or two) are timed `repeats` times (the median is reported)."""
    from ir3de_core.router import IR3DERouter

    tokens = features.tokens()
    tokens.transform(["warm up"])
    kinds: list[tuple[str, Any, int]] = [("tokens", tokens, repeats)]
    if sentence:
        features.sentence.transform(["warm up"])
        kinds.append(("sentence", features.sentence, 1))
    rows = []
    for name, featurizer, times_each in kinds:
        for target in ("domain", "quality"):
            fixed = "pooled" if name == "sentence" else "vote" if target == "domain" else "average"
            times: dict[str, list[float]] = {"auto": [], "plain": []}
            for _ in range(times_each):
                for label, params in (
                    ("auto", {}),
                    ("plain", {"alpha": 1.0, "aggregation": fixed, "safe_default": False}),
                ):
                    router = IR3DERouter(featurizer, target=target, **params)  # type: ignore[arg-type]
                    start = time.perf_counter()
                    fit_on(router, fit)
                    times[label].append(time.perf_counter() - start)
            auto, plain = float(np.median(times["auto"])), float(np.median(times["plain"]))
            rows.append({"router": f"{name}, {target}", "auto_seconds": auto,
                         "plain_seconds": plain, "ratio": auto / plain})  # fmt: skip
    return rows


def _measure(name: str, fit_seconds: float | None, route: Route, prompts: list[str],
             options: SpeedOptions) -> dict[str, Any]:  # fmt: skip
    single = prompts[: options.n_single]
    p50, p99 = time_single(route, single, options.repeats, options.warmup)
    throughput = time_batch(route, prompts, options.repeats)
    return {"router": name, "p50_ms": p50, "p99_ms": p99, "throughput": throughput,
            "fit_seconds": fit_seconds}  # fmt: skip


def run_speed(options: SpeedOptions, variants: Sequence[Variant] | None = None) -> dict[str, Any]:
    """Run the speed benchmark; returns a JSON-serialisable result."""
    fit = load_routerdc_split(options.data, "train", limit=options.n_fit)
    features = Features(memo=False)
    prompts: list[str] = []
    rows: list[dict[str, Any]] = []
    experts: list[dict[str, Any]] = []
    with pinned_threads(options.threads):
        if not options.fit_times_only:
            test = load_routerdc_split(options.data, "test")
            order = np.random.default_rng(0).permutation(len(test))[: options.n_prompts]
            prompts = [test.prompts[i] for i in order]
            chosen = default_variants(sentence=options.sentence) if variants is None else variants
            routes = _variant_routes(fit, features, chosen, options.params or {})
            if options.sentence:
                routes.update(_baseline_routes(fit, features))
                routes["sentence-transformer forward pass (reference)"] = (
                    None,
                    features.sentence.transform,
                )  # type: ignore[assignment]
            rows = [
                _measure(name, s, route, prompts, options) for name, (s, route) in routes.items()
            ]
            experts = expert_update_rows(fit, options.repeats)
        fit_times = fit_time_rows(fit, features, sentence=options.sentence, repeats=options.repeats)
    _add_ratios(rows)
    return {"n_prompts": len(prompts), "n_fit": len(fit), "threads": options.threads,
            "repeats": options.repeats, "routers": rows, "experts_update": experts,
            "fit_times": fit_times}  # fmt: skip


def _add_ratios(rows: list[dict[str, Any]]) -> None:
    """p50 latency of each router as a fraction of kNN's and of a bare forward pass."""
    by_name = {r["router"]: r for r in rows}
    knn = next((r for n, r in by_name.items() if n.startswith("kNN")), None)
    forward = next((r for n, r in by_name.items() if n.startswith("sentence-transformer")), None)
    for row in rows:
        row["vs_knn"] = row["p50_ms"] / knn["p50_ms"] if knn else None
        row["vs_forward"] = row["p50_ms"] / forward["p50_ms"] if forward else None
