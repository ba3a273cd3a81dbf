"""``ir3de evaluate --log``: a saved router's value on logged decisions and feedback, off-policy."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ir3de_cli.paths import check_input_file, check_output_file
from ir3de_cli.report import format_table
from ir3de_core.learn.off_policy import (
    candidate_probabilities,
    off_policy_report,
    read_logged_feedback,
)
from ir3de_core.router import IR3DERouter

__all__ = ["add_log_options", "evaluate_log"]


def add_log_options(parser: argparse.ArgumentParser) -> None:
    """The off-policy options of ``ir3de evaluate``."""
    parser.add_argument(
        "--log",
        help="decision+feedback JSONL (prompt, expert, propensity, reward; or the gateway's "
        "decision and feedback lines joined by id): estimate the model's value off-policy",
    )
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    parser.add_argument(
        "--reward-model",
        default="candidate",
        choices=["candidate", "none"],
        help="doubly robust's reward model: the model's predicted quality, or zero (DR = IPS)",
    )


def evaluate_log(args: argparse.Namespace) -> int:
    """Print the IPS, SNIPS and DR estimates of the model's value next to the logged value."""
    check_input_file(args.log, "--log")
    check_output_file(args.json, "--json")
    if args.bootstrap < 10:
        msg = f"--bootstrap must be at least 10, got {args.bootstrap}"
        raise ValueError(msg)
    router = IR3DERouter.load(args.model)
    logged = read_logged_feedback(args.log)
    experts = list(router.experts_)
    unknown = sorted(set(logged.experts) - set(experts))
    if unknown:
        msg = f"the log names experts {unknown} the model does not have ({experts})"
        raise ValueError(msg)
    pi, quality = candidate_probabilities(router.route(logged.prompts), experts)
    report = off_policy_report(
        logged.rewards,
        np.array([experts.index(e) for e in logged.experts]),
        logged.propensities,
        pi,
        quality if args.reward_model == "candidate" else None,
        bootstrap=args.bootstrap,
        seed=args.seed,
    )
    level = f"{report.level:.0%} interval"
    rows = [
        [name, getattr(report, key).value, getattr(report, key).low, getattr(report, key).high]
        for name, key in (
            ("logging policy (observed)", "logging"),
            ("model, IPS", "ips"),
            ("model, SNIPS", "snips"),
            ("model, doubly robust", "dr"),
        )
    ]
    print(format_table(["estimate", "mean reward", f"{level} low", "high"], rows, digits=4))
    print(f"\n{report.n} logged prompts; effective sample size {report.effective_n:.1f}")
    o = report.overlap
    print(f"mean importance weight {o.weight_mean:.3f} ({o.weight_low:.3f}–{o.weight_high:.3f}, "
          "1 when the log covers the model)")  # fmt: skip
    if o.warning():
        print(f"warning: {o.warning()}")
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    return 0
