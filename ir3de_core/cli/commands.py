"""What each `ir3de` subcommand does; parsing lives in `main.py`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ir3de_core.data import expand_paths, load_records
from ir3de_core.evaluation import evaluate_choices
from ir3de_core.report import format_table
from ir3de_core.router import IR3DERouter
from ir3de_core.training import fit_stream

__all__ = ["demo", "evaluate", "experts_add", "experts_list", "experts_remove", "fit", "route"]


def featurizer_config(args: argparse.Namespace) -> dict[str, Any]:
    """The featurizer config dict from `fit`'s options (unset options keep the defaults)."""
    config: dict[str, Any] = {"kind": args.featurizer}
    if args.max_tokens is not None:
        config["max_tokens"] = args.max_tokens
    if args.truncation is not None:
        config["truncation"] = args.truncation
    if args.model_name is not None:
        config["model"] = args.model_name
    if args.base_url is not None:
        config["base_url"] = args.base_url
    return config


def fit(args: argparse.Namespace) -> int:
    """``ir3de fit``: stream the records in chunks (or fit on Dask), solve once, save."""
    router = IR3DERouter(
        featurizer_config(args),
        target=args.target,
        aggregation=args.aggregation,
        entropy_top_k=args.entropy_top_k,
        alpha=args.alpha,
        missing_scores="ignore",
    )
    if args.dask_scheduler is not None or args.dask_local is not None:
        n_records = _fit_on_dask(router, args)
    else:
        result = fit_stream(
            router,
            args.data,
            format=args.format,
            split=args.split,
            chunk_size=args.chunk_size,
            progress=not args.quiet,
            checkpoint=args.checkpoint,
            checkpoint_every=args.checkpoint_every,
        )
        n_records = result.n_records
        if result.resumed_from:
            print(f"resumed from a checkpoint holding {result.resumed_from} prompts")
    out = router.save(args.out)
    print(f"fitted on {n_records} prompts; experts: {', '.join(router.experts_)}; saved to {out}")
    return 0


def _fit_on_dask(router: IR3DERouter, args: argparse.Namespace) -> int:
    """Fit on a Dask cluster from JSONL paths or URLs; returns the number of prompts."""
    from ir3de_core import distributed

    if args.checkpoint is not None:
        msg = "--checkpoint is for the single-machine fit; on Dask, lost partitions are recomputed"
        raise ValueError(msg)
    if args.format not in ("auto", "jsonl"):
        msg = f"with Dask, --data must be canonical JSONL (got --format {args.format})"
        raise ValueError(msg)
    urls = [str(f) for p in args.data for f in _local_files(p, args.split)]
    with distributed.dask_client(args.dask_scheduler, n_workers=args.dask_local) as client:
        spec, part = distributed.fit_part(
            router, urls, client=client, blocksize=args.blocksize, progress=not args.quiet
        )
    router.fit_part(part, spec)
    return part.n_records


def _local_files(path: str, split: str | None) -> list[Path | str]:
    """Local files of `path` (a directory stands for its data files); URLs pass through."""
    if "://" in path:
        return [path]
    files = expand_paths([path], split)
    bad = [f for f in files if f.suffix not in (".jsonl", ".ndjson")]
    if bad:
        msg = f"with Dask, --data must be canonical JSONL (.jsonl/.ndjson), got {bad[0]}"
        raise ValueError(msg)
    return list(files)


def _read_prompts(args: argparse.Namespace) -> list[str]:
    prompts = list(args.prompts)
    if args.input:
        lines = (
            sys.stdin.read() if args.input == "-" else Path(args.input).read_text(encoding="utf-8")
        ).splitlines()
        for text in lines:
            if text.strip():
                is_json = text.lstrip().startswith("{")
                prompts.append(json.loads(text)["prompt"] if is_json else text)
    if not prompts:
        msg = "no prompts given: pass them as arguments or with --input FILE"
        raise ValueError(msg)
    return prompts


def route(args: argparse.Namespace) -> int:
    """``ir3de route``: one JSON decision per prompt on stdout, decided by the saved policy.

    Each line leads with the chosen expert, the rule that chose it (``best``, ``cost``,
    ``default``, ...), its predicted quality (quality mode) and its cost (priced policies).
    """
    router = IR3DERouter.load(args.model)
    prompts = _read_prompts(args)
    for prompt, decision in zip(prompts, router.route(prompts, explain=args.explain), strict=True):
        record = decision.to_dict()
        lead = {k: record.pop(k) for k in ("expert", "rule", "predicted_quality", "cost")}
        print(json.dumps({"prompt": prompt, **lead, **record}, ensure_ascii=False))
    return 0


def evaluate(args: argparse.Namespace) -> int:
    """``ir3de evaluate``: per-task accuracy, average, routing accuracy and confusion matrix."""
    router = IR3DERouter.load(args.model)
    records = load_records(args.data, format=args.format, split=args.split)
    decisions = router.route([r.prompt for r in records])
    domains = [d.domain for d in decisions] if router.target == "domain" else None
    result = evaluate_choices(records, [d.expert for d in decisions], domains)  # type: ignore[arg-type]
    if result.tasks:
        rows = [[task, v["n"], v["accuracy"]] for task, v in result.tasks.items()]
        rows.append(
            ["average", sum(v["n"] for v in result.tasks.values()), result.average_accuracy]
        )
        print(format_table(["task", "prompts", "accuracy %"], rows))
    else:
        print("the records carry no scores: accuracy cannot be computed, routing accuracy can")
    if result.routing_accuracy is not None and result.confusion is not None:
        print(f"\nrouting accuracy {result.routing_accuracy:.2f}% "
              f"(normalized {result.normalized_routing_accuracy:.2f}%)")  # fmt: skip
        labels = result.confusion["labels"]
        matrix = [
            [label, *row] for label, row in zip(labels, result.confusion["matrix"], strict=True)
        ]
        print(format_table(["true \\ predicted", *labels], matrix))
    if result.unscored:
        print(f"\n{result.unscored} prompts routed to an expert without a score were left out")
    if args.json:
        Path(args.json).write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return 0


def experts_list(args: argparse.Namespace) -> int:
    """``ir3de experts list``."""
    router = IR3DERouter.load(args.model)
    mapping = getattr(router, "expert_map_", None)
    for expert in router.experts_:
        domains = [g for g, e in (mapping or {}).items() if e == expert]
        shown = domains and domains != [expert]
        print(expert + (f"  (domains: {', '.join(domains)})" if shown else ""))
    return 0


def experts_add(args: argparse.Namespace) -> int:
    """``ir3de experts add``: add from the new expert's (or domain's) data alone."""
    router = IR3DERouter.load(args.model)
    records = load_records(args.data, format=args.format, split=args.split)
    prompts = [r.prompt for r in records]
    if router.target == "quality":
        scored = [r for r in records if args.name in r.scores]
        if not scored:
            msg = f"no record has a score for {args.name!r}; the data must score the new expert"
            raise ValueError(msg)
        router.add_expert(
            args.name, [r.prompt for r in scored], [r.scores[args.name] for r in scored]
        )
    else:
        router.add_expert(args.name, prompts, expert=args.expert)
    router.save(args.out or args.model)
    print(f"added {args.name!r}; experts: {', '.join(router.experts_)}")
    return 0


def experts_remove(args: argparse.Namespace) -> int:
    """``ir3de experts remove``."""
    router = IR3DERouter.load(args.model).remove_expert(args.name)
    router.save(args.out or args.model)
    print(f"removed {args.name!r}; experts: {', '.join(router.experts_)}")
    return 0


def demo(args: argparse.Namespace) -> int:
    """``ir3de demo``: fit on the bundled prompts and route examples, offline."""
    from ir3de_core.cli.demo import run_demo

    run_demo(featurizer=args.featurizer, extra_prompts=args.prompt or [])
    return 0
