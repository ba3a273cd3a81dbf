"""What each `ir3de` subcommand does; parsing lives in `main.py`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ir3de_cli.evaluation import evaluate_choices
from ir3de_cli.off_policy import evaluate_log
from ir3de_cli.paths import check_input_file, check_output_dir, check_output_file
from ir3de_cli.report import format_table, tuning_report
from ir3de_core.data import expand_paths, load_records
from ir3de_core.data.files import decode_lines, iter_lines, parse_json
from ir3de_core.data.records import Record
from ir3de_core.router import IR3DERouter
from ir3de_core.scale.training import fit_stream
from ir3de_core.settings import RouterSettings

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


_SETTING_OPTIONS = {"target": "--target", "aggregation": "--aggregation",
                    "entropy_top_k": "--entropy-top-k", "alpha": "--alpha", "cv": "--cv",
                    "safe_default": "--no-safe-default"}  # fmt: skip


def router_settings(args: argparse.Namespace) -> dict[str, Any]:
    """`fit`'s router settings, each checked by `RouterSettings`; an error names the option."""
    settings = {name: getattr(args, name) for name in _SETTING_OPTIONS}
    for name, value in settings.items():
        try:
            RouterSettings(**{name: value})
        except ValueError as e:
            msg = f"{_SETTING_OPTIONS[name]}: {e}"
            raise ValueError(msg) from None
    return settings


def fit(args: argparse.Namespace) -> int:
    """``ir3de fit``: stream the records in chunks (or fit on Dask), solve once, save.

    The options and the output paths are checked before any data is read.
    """
    check_output_dir(args.out, "--out")
    check_output_dir(args.checkpoint, "--checkpoint")
    router = IR3DERouter(featurizer_config(args), **router_settings(args), missing_scores="ignore")
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
    if router.cv_results_ is not None and not args.quiet:
        print(tuning_report(router.cv_results_))
    print(f"fitted on {n_records} prompts; experts: {', '.join(router.experts_)}; saved to {out}")
    return 0


def _fit_on_dask(router: IR3DERouter, args: argparse.Namespace) -> int:
    """Fit on a Dask cluster from JSONL paths or URLs; returns the number of prompts."""
    from ir3de_core.scale import distributed

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
    """The prompts given as arguments, then those of ``--input`` (one per line, or JSONL)."""
    prompts = list(args.prompts)
    if args.input:
        name = "<stdin>" if args.input == "-" else args.input
        for line, text in _input_lines(args.input):
            if not text.strip():
                continue
            if text.lstrip().startswith("{"):
                obj = parse_json(text.rstrip("\r\n"), name, line)
                only = {k: v for k, v in obj.items() if k == "prompt"}  # the rest is not used
                prompts.append(Record.from_dict(only, where=f"{name}:{line}").prompt)
            else:
                prompts.append(text.rstrip("\r\n"))
    if not prompts:
        msg = "no prompts given: pass them as arguments or with --input FILE"
        raise ValueError(msg)
    return prompts


def _input_lines(value: str) -> Iterator[tuple[int, str]]:
    """Numbered lines of ``--input`` (``-``: stdin), read like every data file (UTF-8, BOM)."""
    if value != "-":
        yield from ((line, text) for line, _, text in iter_lines(Path(value)))
    elif hasattr(sys.stdin, "buffer"):
        yield from ((line, text) for line, _, text in decode_lines(sys.stdin.buffer, "<stdin>"))
    else:  # a text stream without bytes (e.g. replaced in tests)
        yield from enumerate(sys.stdin, start=1)


def route(args: argparse.Namespace) -> int:
    """``ir3de route``: one JSON decision per prompt on stdout, decided by the saved policy.

    Each line leads with the chosen expert, the rule that chose it (``best``, ``cost``,
    ``default``, ...), its predicted quality (quality mode) and its cost (priced policies).
    """
    check_input_file(args.input, "--input")
    router = IR3DERouter.load(args.model)
    prompts = _read_prompts(args)
    for prompt, decision in zip(prompts, router.route(prompts, explain=args.explain), strict=True):
        record = decision.to_dict()
        lead = {k: record.pop(k) for k in ("expert", "rule", "predicted_quality", "cost")}
        print(json.dumps({"prompt": prompt, **lead, **record}, ensure_ascii=False))
    return 0


def evaluate(args: argparse.Namespace) -> int:
    """``ir3de evaluate``: per-task accuracy, average, routing accuracy and confusion matrix;
    with ``--log``, the model's value estimated off-policy on logged feedback."""
    if args.log is not None:
        if args.data:
            msg = "give --data (labelled records) or --log (logged feedback), not both"
            raise ValueError(msg)
        return evaluate_log(args)
    if not args.data:
        msg = "ir3de evaluate needs --data (labelled records) or --log (logged feedback)"
        raise ValueError(msg)
    check_output_file(args.json, "--json")
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
        Path(args.json).write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
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
    check_output_dir(args.out, "--out")
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
    check_output_dir(args.out, "--out")
    router = IR3DERouter.load(args.model).remove_expert(args.name)
    router.save(args.out or args.model)
    print(f"removed {args.name!r}; experts: {', '.join(router.experts_)}")
    return 0


def demo(args: argparse.Namespace) -> int:
    """``ir3de demo``: fit on the bundled prompts and route examples, offline."""
    from ir3de_cli.demo import run_demo

    run_demo(featurizer=args.featurizer, extra_prompts=args.prompt or [])
    return 0
