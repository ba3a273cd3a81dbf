"""``python -m benchmarks quality|speed|costs``: the benchmarks on the shared routing data.

Run from a clone of the repository (the benchmarks are not installed with ``ir3de``)::

    .venv/bin/python -m benchmarks quality --data ../shared/data/routerdc
    .venv/bin/python -m benchmarks speed --data ../shared/data/routerdc
    .venv/bin/python -m benchmarks costs --data ../shared/data

Each prints its tables and, with ``--json``, writes every number to a file. Without the data
the command says where it should be and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["build_parser", "main"]

PROG = "python -m benchmarks"


def _write_json(result: dict[str, Any], path: str | None) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
        print(f"\nwrote {path}")


def _progress(args: argparse.Namespace) -> bool:
    """Progress lines (INFO of the ``ir3de.bench`` logger) unless ``--quiet``."""
    if args.quiet:
        return False
    logging.getLogger("ir3de.bench").setLevel(logging.INFO)
    return True


def quality(args: argparse.Namespace) -> int:
    """``quality``: RouterDC's table, domain metrics, leave-one-task-out."""
    from benchmarks.routerdc.quality import QualityOptions, run_quality
    from benchmarks.routerdc.tables import quality_report

    options = QualityOptions(
        data=Path(args.data),
        limit=args.limit,
        folds=args.folds,
        seed=args.seed,
        sentence=not args.no_sentence,
        loto=not args.no_loto,
        cache_dir=Path(args.cache_dir) if args.cache_dir else None,
        plots=Path(args.plots) if args.plots else None,
        progress=_progress(args),
        quick=args.quick,
    )
    result = run_quality(options)
    print(quality_report(result))
    print(f"\ntotal {result['timings']['total_seconds']:.0f} s")
    _write_json(result, args.json)
    return 0


def speed(args: argparse.Namespace) -> int:
    """``speed``: latency, throughput, fit and add/remove-expert times."""
    for name in ("RAYON_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, str(args.threads))
    from benchmarks.routerdc.speed import SpeedOptions, run_speed
    from benchmarks.routerdc.tables import speed_report

    params = None
    if args.params:
        rows = json.loads(Path(args.params).read_text(encoding="utf-8"))["rows"]
        params = {r["router"]: r["params"] for r in rows if r["kind"] in ("ir3de", "ir3de+")}
    options = SpeedOptions(
        data=Path(args.data),
        n_fit=args.n_fit,
        n_prompts=args.n_prompts,
        n_single=args.n_single,
        repeats=args.repeats,
        threads=args.threads,
        sentence=not args.no_sentence,
        params=params,
        fit_times_only=args.fit_times_only,
    )
    result = run_speed(options)
    print(speed_report(result))
    _write_json(result, args.json)
    return 0


def costs(args: argparse.Namespace) -> int:
    """``costs``: cost–quality curves, unseen LLMs, online feedback."""
    from benchmarks.costs import CostBenchOptions, run_costs
    from benchmarks.costs.feedback import FeedbackOptions
    from benchmarks.costs.unseen import UnseenOptions

    _progress(args)
    options = CostBenchOptions(
        data=Path(args.data),
        parts=tuple(args.part),
        featurizer=args.featurizer,
        unseen_on=tuple(args.unseen_on),
        feedback_on=tuple(args.feedback_on),
        unseen=UnseenOptions(
            splits=args.splits, n_prompts=args.unseen_prompts, prompts_from=args.prompts_from
        ),
        feedback=FeedbackOptions(seed_prompts=args.seed_prompts, explore=args.explore),
        **({"cache": Path(args.cache_dir)} if args.cache_dir else {}),
        **({"out_dir": Path(args.out_dir)} if args.out_dir else {}),
    )
    tables = run_costs(options, emit=lambda t: print(t.render() + "\n", flush=True))
    _write_json({"tables": [t.to_dict() for t in tables]}, args.json)
    return 0


def _add_quality(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quality", help="RouterDC's quality table, computed end to end")
    p.add_argument("--data", required=True, help="RouterDC directory (../shared/data/routerdc)")
    p.add_argument("--json", help="also write the full results to this JSON file")
    p.add_argument("--limit", type=int, help="at most this many prompts per task and split")
    p.add_argument("--folds", type=int, default=1, help="1: one validation split; k: k-fold CV")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-sentence", action="store_true", help="skip sentence-embedding routers")
    p.add_argument("--no-loto", action="store_true", help="skip leave-one-task-out")
    p.add_argument("--cache-dir", help="keep sentence embeddings here between runs")
    p.add_argument("--plots", help="directory for the confusion-matrix PNGs")
    p.add_argument("--quick", action="store_true", help="first grid value only (smoke runs)")
    _add_quiet(p)
    p.set_defaults(run=quality)


def _add_speed(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("speed", help="latency, throughput, fit and expert-update times")
    p.add_argument("--data", required=True, help="RouterDC directory (../shared/data/routerdc)")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.add_argument("--n-fit", type=int, default=200, help="training prompts per task")
    p.add_argument("--n-prompts", type=int, default=1000, help="test prompts routed")
    p.add_argument("--n-single", type=int, default=300, help="single-prompt decisions timed")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="BLAS/torch/tokenizer threads")
    p.add_argument("--no-sentence", action="store_true", help="skip sentence-embedding routers")
    p.add_argument("--params", help="a `quality --json` file: time the chosen settings")
    p.add_argument("--fit-times-only", action="store_true",
                   help="only the fit-time table (defaults against one plain fit)")  # fmt: skip
    _add_quiet(p)
    p.set_defaults(run=speed)


def _add_costs(sub: argparse._SubParsersAction) -> None:
    from benchmarks.costs.run import DATA_SETS, FEATURIZERS, PARTS

    p = sub.add_parser("costs", help="cost–quality curves, unseen LLMs, online feedback")
    p.add_argument("--data", required=True, help="folder with routerbench/ and routerdc/")
    p.add_argument("--part", nargs="+", choices=PARTS, default=list(PARTS))
    p.add_argument("--featurizer", choices=sorted(FEATURIZERS), default="sentence")
    p.add_argument("--unseen-on", nargs="+", choices=DATA_SETS, default=list(DATA_SETS))
    p.add_argument("--feedback-on", nargs="+", choices=DATA_SETS, default=list(DATA_SETS))
    p.add_argument("--splits", type=int, default=20, help="random seen/unseen LLM splits")
    p.add_argument("--unseen-prompts", type=int, default=200, help="scored prompts per new LLM")
    p.add_argument("--prompts-from", choices=["random", "clusters"], default="random")
    p.add_argument("--seed-prompts", type=int, default=50, help="feedback: fully scored seed")
    p.add_argument("--explore", type=float, default=0.1, help="feedback: ε of ε-greedy")
    p.add_argument("--cache-dir", help="keep embeddings here (default: a temporary folder)")
    p.add_argument("--out-dir", help="where the cost–quality PNG goes")
    p.add_argument("--json", help="also write every table to this JSON file")
    _add_quiet(p)
    p.set_defaults(run=costs)


def _add_quiet(p: argparse.ArgumentParser) -> None:
    # SUPPRESS: when absent here, the value of the top-level -q stays
    p.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                   help="no progress lines, no warnings")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m benchmarks``."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines, no warnings")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_quality, _add_speed, _add_costs):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (2 when the data is not where it was said to be)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.quiet:
        warnings.simplefilter("ignore")
    try:
        return int(args.run(args) or 0)
    except FileNotFoundError as e:
        print(f"{PROG} {args.command}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
