"""How the self-tuned fit chooses between routing and "no prompt signal", measured on train only.

For every shared data set (RouterDC's 5 tasks, RouterBench's 2), featurizer and target, the
defaults are fitted on the training split and their ``cv_results_`` printed: the α grid, each
candidate's held-out score, the gain of the best routing candidate over no signal and its
standard errors. Each *selection rule* (when routing beats no signal) is then judged on
training data only, by two checks that never read a test split:

* nested: 5 stratified outer folds of train; on each, the rule chooses on the inner 5-fold CV
  of the other four and is scored on the outer fold;
* train-only leave-one-task-out: fitted on the other tasks' training prompts, scored on the
  held-out task's training prompts (a task the router never saw).

The test split is printed beside them for information only (train → test, and the docs'
leave-one-task-out: fitted on the other tasks' train, scored on the held-out task's test).

    .venv/bin/python -m benchmarks.selection --data ../shared/data --cache-dir ~/.cache/ir3de/bench
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from benchmarks.common.features import PrecomputedFeaturizer, cached, embed_and_save
from benchmarks.routerdc.data import load_routerdc_split
from ir3de_cli.report import format_table
from ir3de_core.data import cost_table, load_records
from ir3de_core.featurizers import SentenceFeaturizer
from ir3de_core.fit import cross_validation, tuning
from ir3de_core.router import IR3DERouter

__all__ = ["RULES", "Split", "main", "rule_alpha"]

Rule = Callable[[dict[str, Any]], float]


@dataclass(frozen=True)
class Split:
    """Prompts with every expert's score (NaN: unscored) and each prompt's task."""

    prompts: list[str]
    scores: NDArray[np.float64]
    experts: tuple[str, ...]
    tasks: NDArray[np.str_]

    def rows(self, index: NDArray[np.intp]) -> Split:
        return Split([self.prompts[i] for i in index], self.scores[index], self.experts,
                     self.tasks[index])  # fmt: skip

    def average(self, choice: NDArray[np.intp]) -> float:
        """Mean over tasks of the chosen experts' mean observed score, in % (NaN skipped)."""
        got = self.scores[np.arange(len(self.prompts)), choice]
        return 100 * float(np.mean([np.nanmean(got[self.tasks == t]) for t in set(self.tasks)]))


def _load(data: Path) -> dict[str, tuple[Split, Split]]:
    out = {}
    dc = [load_routerdc_split(data / "routerdc", s) for s in ("train", "test")]
    out["routerdc"] = tuple(Split(d.prompts, d.scores, d.experts, d.tasks) for d in dc)
    splits = []
    for s in ("train", "test"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t, _ = cost_table(load_records([data / "routerbench"], split=s))
        splits.append(Split(t.prompts, t.scores, t.experts, np.asarray(t.tasks)))
    out["routerbench"] = tuple(splits)
    return out  # type: ignore[return-value]


def _top(result: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(best routing candidate, no-signal candidate) as `_best` picks them."""
    cands = [c for c in result["candidates"] if math.isfinite(c["score"])]
    routing = [c for c in cands if c["alpha"] != math.inf]
    none = next((c for c in cands if c["alpha"] == math.inf), None)
    top = max(c["score"] for c in routing)
    tied = [c for c in routing if c["score"] >= top - 1e-12 * max(1.0, abs(top))]
    errors = [c["error"] for c in tied if math.isfinite(c["error"])]
    if errors:
        tied = [c for c in tied if math.isfinite(c["error"]) and c["error"] <= 1.01 * min(errors)]
    return max(tied, key=lambda c: c["alpha"]), none


def _gain_rule(margin: Callable[[dict[str, Any]], float]) -> Rule:
    def rule(result: dict[str, Any]) -> float:
        pick, none = _top(result)
        if none is None:
            return float(pick["alpha"])
        gain = pick["score"] - none["score"]
        return float(pick["alpha"]) if gain > margin(result) else math.inf

    return rule


def _fold_se(result: dict[str, Any]) -> float:
    g = np.asarray(result["fold_gains"])
    return float(g.std(ddof=1) / math.sqrt(g.size)) if g.size > 1 else math.inf


RULES: dict[str, Rule] = {
    "one SE (before)": _gain_rule(lambda r: r["standard_error"] or 0.0),
    "half SE": _gain_rule(lambda r: 0.5 * (r["standard_error"] or 0.0)),
    "per-fold SE": _gain_rule(_fold_se),
    "argmax": _gain_rule(lambda r: 0.0),
}


def rule_alpha(result: dict[str, Any], rule: str) -> float:
    """The α `rule` picks from a fit's ``cv_results_`` (``inf``: no signal)."""
    return RULES[rule](result)


def _router(featurizer: Any, target: str, **fixed: Any) -> IR3DERouter:
    return IR3DERouter(featurizer, target=target, missing_scores="ignore", **fixed)


def _fit(router: IR3DERouter, split: Split) -> IR3DERouter:
    rows = [
        {e: float(v) for e, v in zip(split.experts, r, strict=True) if not np.isnan(v)}
        for r in split.scores
    ]
    if router.target == "domain":
        return router.fit(split.prompts, split.tasks.tolist(), scores=rows)
    return router.fit(split.prompts, rows)


def _choices(router: IR3DERouter, split: Split) -> NDArray[np.intp]:
    index = {e: j for j, e in enumerate(split.experts)}
    return np.array([index[str(n)] for n in router.predict(split.prompts)], dtype=np.intp)


def _evaluate_rules(
    featurizer: Any, target: str, fit: Split, evaluate: Sequence[Split]
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Fit the defaults on `fit`, then each rule's choice; score every `evaluate` split."""
    default = _fit(_router(featurizer, target), fit)
    result = default.cv_results_
    assert result is not None
    best_single = int(np.nanargmax(np.nanmean(fit.scores, axis=0)))
    out: dict[str, list[float]] = {}
    refits: dict[float, IR3DERouter] = {float(result["alpha"]): default}
    for name in RULES:
        alpha = rule_alpha(result, name)
        if alpha == math.inf:
            out[name] = [s.average(np.full(len(s.prompts), best_single)) for s in evaluate]
            continue
        if alpha not in refits:
            fixed = {"alpha": alpha, "aggregation": result["aggregation"]}
            refits[alpha] = _fit(_router(featurizer, target, **fixed), fit)
        out[name] = [s.average(_choices(refits[alpha], s)) for s in evaluate]
    return result, out


def _outer_folds(split: Split, k: int = 5, seed: int = 0) -> list[tuple[Split, Split]]:
    rng = np.random.default_rng(seed)
    fold = np.empty(len(split.prompts), dtype=np.intp)
    for t in sorted(set(split.tasks)):
        rows = rng.permutation(np.flatnonzero(split.tasks == t))
        fold[rows] = np.arange(rows.size) % k
    return [
        (split.rows(np.flatnonzero(fold != f)), split.rows(np.flatnonzero(fold == f)))
        for f in range(k)
    ]


def _describe(name: str, result: dict[str, Any]) -> str:
    pick, none = _top(result)
    cands = sorted(
        (c for c in result["candidates"] if c["aggregation"] == pick["aggregation"]),
        key=lambda c: c["alpha"],
    )
    grid = " ".join(f"{c['alpha']:.3g}:{100 * c['score']:.2f}" for c in cands)
    extended = sum(c["alpha"] != math.inf for c in cands) > len(tuning.GRID_EXPONENTS)
    none_s = f"{100 * none['score']:.2f}" if none else "-"
    se = result["standard_error"] or math.nan
    return (
        f"{name}: chose α={result['alpha']:.4g} ({result['aggregation']})"
        f"{'; grid extended' if extended else ''}; best routing α="
        f"{pick['alpha']:.4g} {100 * pick['score']:.2f} vs no signal {none_s}; gain "
        f"{100 * (pick['score'] - (none or pick)['score']):.3f}, SE {100 * se:.3f}, per-fold SE "
        f"{100 * _fold_se(result):.3f}\n    α:score(%) {grid}"
    )


def run(
    data: Path,
    cache_dir: Path | None,
    featurizers: Sequence[str],
    nested: bool,
    targets: Sequence[str] = ("quality", "domain"),
    names: Sequence[str] = ("routerdc", "routerbench"),
) -> None:
    """Print every (data set, featurizer, target)'s CV results and the rules' averages."""
    sets = _load(data)
    for set_name in names:
        train, test = sets[set_name]
        feats = _featurizers(featurizers, train, test, cache_dir)
        for feat_name, featurizer in feats.items():
            for target in targets:
                _one(f"{set_name} {feat_name} {target}", featurizer, target, train, test, nested)


def _one(label: str, featurizer: Any, target: str, train: Split, test: Split, nested: bool) -> None:
    tasks = sorted(set(train.tasks))
    result, scores = _evaluate_rules(featurizer, target, train, [test])
    print(_describe(label, result), flush=True)
    columns: dict[str, dict[str, float]] = {r: {"test": scores[r][0]} for r in RULES}
    if nested:
        per = [_evaluate_rules(featurizer, target, a, [b])[1] for a, b in _outer_folds(train)]
        for r in RULES:
            columns[r]["nested CV (train)"] = float(np.mean([p[r][0] for p in per]))
    loto_train: dict[str, list[float]] = {r: [] for r in RULES}
    loto_test: dict[str, list[float]] = {r: [] for r in RULES}
    for t in tasks:
        rest = train.rows(np.flatnonzero(train.tasks != t))
        held = [train.rows(np.flatnonzero(train.tasks == t)),
                test.rows(np.flatnonzero(test.tasks == t))]  # fmt: skip
        res, s = _evaluate_rules(featurizer, target, rest, held)
        print(f"    LOTO {t}: " + _describe("", res).split("\n")[0], flush=True)
        for r in RULES:
            loto_train[r].append(s[r][0])
            loto_test[r].append(s[r][1])
    for r in RULES:
        columns[r]["LOTO train"] = float(np.mean(loto_train[r]))
        columns[r]["LOTO test"] = float(np.mean(loto_test[r]))
    head = ["rule", *columns[next(iter(RULES))]]
    rows = [[r, *(f"{v:.2f}" for v in c.values())] for r, c in columns.items()]
    print(f"#### {label}: average % by selection rule\n", flush=True)
    print(format_table(head, rows), flush=True)


def _featurizers(
    names: Sequence[str], train: Split, test: Split, cache_dir: Path | None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        if name == "sentence":
            encoder = cached(SentenceFeaturizer(), cache_dir)
            rows = embed_and_save(encoder, train.prompts, test.prompts)
            out[name] = PrecomputedFeaturizer(train.prompts + test.prompts, np.vstack(rows))
        else:
            out[name] = name
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--featurizers", nargs="+", default=["tokens", "hashing", "sentence"])
    parser.add_argument("--wide-grid", type=float, default=None,
                        help="the grid's top exponent (default: the library's)")  # fmt: skip
    parser.add_argument("--no-nested", action="store_true")
    parser.add_argument("--no-edge", action="store_true",
                        help="do not extend the α grid past a best α at its top (as before)")  # fmt: skip
    parser.add_argument("--targets", nargs="+", default=["quality", "domain"])
    parser.add_argument("--sets", nargs="+", default=["routerdc", "routerbench"])
    args = parser.parse_args(argv)
    if args.wide_grid is not None:
        tuning.GRID_EXPONENTS = np.arange(-4.0, args.wide_grid + 0.01, 0.5)
    if args.no_edge:
        cross_validation.EDGE_EXTENSIONS = 0
    run(args.data, args.cache_dir, args.featurizers, not args.no_nested, args.targets, args.sets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
