"""`ir3de calibrate`: fit the router's policy (λ for a budget, a default threshold) and save it.

The policy is calibrated on the user's own scored data and written into the model folder, so
`ir3de route` (and every adapter that loads the router) decides with it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ir3de_cli.paths import check_output_file
from ir3de_cli.report import format_table
from ir3de_core.data import CostTable, cost_table, load_records
from ir3de_core.decide.calibration import (
    OperatingPoint,
    calibrate_budget,
    calibrate_threshold,
    lambda_path,
    operating_point,
)
from ir3de_core.decide.decision import ExpertScores
from ir3de_core.decide.metrics import aiq
from ir3de_core.decide.policy import RoutingPolicy
from ir3de_core.router import IR3DERouter

__all__ = ["add_parser", "calibrate"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``calibrate`` command to `ir3de`."""
    p = subparsers.add_parser(
        "calibrate", help="calibrate the router's cost-aware policy for a budget and save it"
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
        help="price per 1,000 prompt tokens (repeat per expert); default: each expert's mean "
        "cost per query in the data",
    )
    p.add_argument("--default", help="default expert for queries below a calibrated threshold")
    p.add_argument("--points", type=int, default=12, help="rows of the λ table")
    p.add_argument("--json", help="also write the calibration to this JSON file")
    p.add_argument("--dry-run", action="store_true", help="print the policy but do not save it")
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
        try:
            prices[name] = float(value)
        except ValueError:
            msg = f"--price {item!r}: {value!r} is not a number"
            raise ValueError(msg) from None
    return prices


def _policy_prices(args: argparse.Namespace, table: CostTable) -> RoutingPolicy:
    """The prices the saved policy will route with: given per 1k tokens, or the data's mean
    cost per query of each expert."""
    given = _prices(args.price)
    if given is not None:
        return RoutingPolicy(prices=given, price_unit="1k_tokens")
    means = table.costs.mean(axis=0)
    return RoutingPolicy(
        prices=dict(zip(table.experts, means.tolist(), strict=True)), price_unit="query"
    )


def _table(args: argparse.Namespace, experts: tuple[str, ...]) -> tuple[CostTable, list[str]]:
    """The router's experts' scores and costs on the data, and the data problems handled."""
    records = load_records(args.data, format=args.format, split=args.split)
    if args.price:  # costs come from prices: the data's costs are not needed
        records = [r.__class__(r.prompt, r.scores, {}, r.domain, r.task) for r in records]
    table, report = cost_table(records)
    missing = [e for e in experts if e not in table.experts]
    if missing:
        msg = f"the data has no scores for the router's expert(s) {missing}"
        raise ValueError(msg)
    return table.columns(experts), report.lines()


def _row(point: OperatingPoint) -> list[object]:
    top = max(point.shares.items(), key=lambda kv: kv[1])
    return [
        f"{point.lam:.4g}", point.cost, point.predicted_quality, point.quality,
        f"{top[0]} ({100 * top[1]:.0f}%)",
    ]  # fmt: skip


def calibrate(args: argparse.Namespace) -> int:
    """``ir3de calibrate``: print the λ–cost–quality table, calibrate and save the policy."""
    check_output_file(args.json, "--json")
    router = IR3DERouter.load(args.model)
    if router.target != "quality":
        msg = "calibrate needs a quality-mode router (fit with --target quality)"
        raise ValueError(msg)
    table, problems = _table(args, router.experts_)
    for line in problems:
        print(f"data: {line}")
    priced = _policy_prices(args, table)
    costs = _costs(priced, table)
    quality = router.decision_function(table.prompts)
    path = lambda_path(
        quality, costs, scores=table.scores, experts=table.experts, n_points=args.points
    )
    headers = ["λ", "cost/query", "predicted quality", "quality", "most used expert"]
    print(format_table(headers, [_row(p) for p in path], digits=6))
    curve = lambda_path(quality, costs, scores=table.scores, n_points=101)
    area = aiq([p.cost for p in curve], [p.quality or 0.0 for p in curve])
    print(f"\nAIQ of the λ curve on {table.n} prompts: {area:.4f}")
    point = calibrate_budget(
        quality, costs, args.budget, scores=table.scores, experts=table.experts
    )
    if args.default is not None:
        point = calibrate_threshold(
            quality, costs, table.scores, args.default, table.experts, budget=args.budget,
            lam=point.lam,
        )  # fmt: skip
    policy = priced.replace(
        lam=point.lam, budget=args.budget, threshold=point.threshold, threshold_on="quality",
        default=args.default,
    )  # fmt: skip
    _report(args, point, policy, table, quality)
    if not args.dry_run:
        router.set_policy(policy).save(args.model)
        print(f"saved the policy with the router in {args.model}")
    return 0


def _report(
    args: argparse.Namespace,
    point: OperatingPoint,
    policy: RoutingPolicy,
    table: CostTable,
    quality: np.ndarray,
) -> None:
    """Print the calibrated policy and what it does on the data (at the data's own costs)."""
    status = "" if point.feasible else "  (budget not reachable: cheapest routing)"
    print(f"\nbudget {args.budget:.6g}/query → λ = {point.lam:.6g}{status}")
    if policy.threshold is not None:
        print(
            f"threshold {policy.threshold:.4g} on predicted quality → default expert {args.default}"
        )
    elif args.default is not None:
        print(f"threshold: none (sending unsure prompts to {args.default} did not pay off)")
    data_costs = table.costs if np.isfinite(table.costs).all() else _costs(policy, table)
    uniform = np.full_like(quality, 1.0 / quality.shape[1])
    scores = ExpertScores(table.experts, quality, uniform, quality, _costs(policy, table))
    real = operating_point(
        policy.choose(scores).index, quality, data_costs, scores=table.scores,
        experts=table.experts, lam=point.lam, threshold=point.threshold,
    )  # fmt: skip
    print(f"calibration set: cost {real.cost:.6g}/query, quality {real.quality:.4f}")
    shares = sorted(real.shares.items(), key=lambda kv: -kv[1])
    print("shares: " + ", ".join(f"{e} {100 * s:.1f}%" for e, s in shares))
    if args.json:
        out = {"budget": args.budget, "default": args.default, **real.to_dict(),
               "policy": policy.to_dict(), "feasible": point.feasible}  # fmt: skip
        if real.threshold is not None and not np.isfinite(real.threshold):
            out["threshold"] = str(real.threshold)  # "inf": always the default
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")


def _costs(policy: RoutingPolicy, table: CostTable) -> np.ndarray:
    """The policy's costs of the data's prompts: array of shape (n, k)."""
    costs = policy.costs(table.prompts, table.experts)
    if costs is None:
        msg = "the policy has no prices"
        raise ValueError(msg)
    return costs
