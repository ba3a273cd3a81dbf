"""`ir3de calibrate`: find λ (and a threshold) for a cost budget on the user's own data."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ir3de_core.costs.metrics import aiq
from ir3de_core.costs.policies import (
    OperatingPoint,
    calibrate_budget,
    calibrate_threshold,
    lambda_path,
    prompt_costs,
)
from ir3de_core.costs.table import CostTable, cost_table
from ir3de_core.data import load_records
from ir3de_core.report import format_table
from ir3de_core.router import IR3DERouter

__all__ = ["calibrate", "register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``calibrate`` command to `ir3de`."""
    p = subparsers.add_parser(
        "calibrate", help="calibrate cost-aware routing (λ, threshold) for a budget; print it"
    )
    p.add_argument("--model", required=True, help="directory of a saved quality-mode router")
    p.add_argument("--data", nargs="+", required=True, help="labelled records with costs")
    p.add_argument("--format", default="auto", choices=["auto", "jsonl", "routerdc", "routerbench"])
    p.add_argument("--split", help="in directories, read only files named *_<split>.*")
    p.add_argument("--budget", type=float, required=True, help="average cost per query allowed")
    p.add_argument(
        "--price",
        action="append",
        metavar="EXPERT=PRICE",
        help="price per 1,000 prompt tokens (repeat per expert); default: the data's costs",
    )
    p.add_argument("--default", help="default expert for queries below a calibrated threshold")
    p.add_argument("--points", type=int, default=12, help="rows of the λ table")
    p.add_argument("--json", help="also write the calibration to this JSON file")
    p.set_defaults(run=calibrate)


def _prices(items: list[str] | None) -> dict[str, float] | None:
    if not items:
        return None
    prices = {}
    for item in items:
        name, sep, value = item.rpartition("=")
        if not sep or not name:
            msg = f"--price expects EXPERT=PRICE, got {item!r}"
            raise ValueError(msg)
        prices[name] = float(value)
    return prices


def _table(args: argparse.Namespace, experts: tuple[str, ...]) -> tuple[CostTable, list[str]]:
    """The router's experts' scores and costs on the data, and the data problems handled."""
    records = load_records(args.data, format=args.format, split=args.split)
    prices = _prices(args.price)
    if prices is not None:  # costs come from prices: the data's costs are not needed
        records = [r.__class__(r.prompt, r.scores, dict(prices), r.domain, r.task) for r in records]
    table, report = cost_table(records)
    missing = [e for e in experts if e not in table.experts]
    if missing:
        msg = f"the data has no scores for the router's expert(s) {missing}"
        raise ValueError(msg)
    table = table.columns(experts)
    if prices is not None:
        table = CostTable(
            table.prompts, experts, table.scores, prompt_costs(table.prompts, prices, experts),
            table.tasks,
        )  # fmt: skip
    return table, report.lines()


def _row(point: OperatingPoint) -> list[object]:
    top = max(point.shares.items(), key=lambda kv: kv[1])
    return [
        f"{point.lam:.4g}", point.cost, point.predicted_quality, point.quality,
        f"{top[0]} ({100 * top[1]:.0f}%)",
    ]  # fmt: skip


def calibrate(args: argparse.Namespace) -> int:
    """``ir3de calibrate``: print the λ–cost–quality table and the budget's calibration."""
    router = IR3DERouter.load(args.model)
    if router.target != "quality":
        msg = "calibrate needs a quality-mode router (fit with --target quality)"
        raise ValueError(msg)
    table, problems = _table(args, router.experts_)
    for line in problems:
        print(f"data: {line}")
    quality = router.decision_function(table.prompts)
    path = lambda_path(
        quality, table.costs, scores=table.scores, experts=table.experts, n_points=args.points
    )
    headers = ["λ", "cost/query", "predicted quality", "quality", "most used expert"]
    print(format_table(headers, [_row(p) for p in path], digits=6))
    curve = lambda_path(quality, table.costs, scores=table.scores, n_points=101)
    area = aiq([p.cost for p in curve], [p.quality or 0.0 for p in curve])
    print(f"\nAIQ of the λ curve on {table.n} prompts: {area:.4f}")
    point = calibrate_budget(
        quality, table.costs, args.budget, scores=table.scores, experts=table.experts
    )
    if args.default is not None:
        default = list(table.experts).index(args.default) if args.default in table.experts else -1
        if default < 0:
            msg = f"--default {args.default!r} is not one of {list(table.experts)}"
            raise ValueError(msg)
        point = calibrate_threshold(
            quality, table.costs, table.scores, default, budget=args.budget, lam=point.lam,
            experts=table.experts,
        )  # fmt: skip
    status = "" if point.feasible else "  (budget not reachable: cheapest routing)"
    print(f"\nbudget {args.budget:.6g}/query → λ = {point.lam:.6g}{status}")
    if point.threshold is not None:
        print(f"threshold {point.threshold:.4g} → default expert {args.default}")
    print(f"calibration set: cost {point.cost:.6g}/query, quality {point.quality:.4f}")
    shares = sorted(point.shares.items(), key=lambda kv: -kv[1])
    print("shares: " + ", ".join(f"{e} {100 * s:.1f}%" for e, s in shares))
    if args.json:
        out = {"budget": args.budget, "default": args.default, **point.to_dict()}
        if point.threshold is not None and not np.isfinite(point.threshold):
            out["threshold"] = str(point.threshold)  # "-inf": never defer, "inf": always
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0
