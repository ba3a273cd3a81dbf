"""Plain-text tables of the benchmark results (through `ir3de_cli.report.format_table`)."""

from __future__ import annotations

from typing import Any

from ir3de_cli.report import format_table

__all__ = ["quality_report", "speed_report"]

_SHORT = {"mmlu": "MMLU", "gsm8k": "GSM8K", "cmmlu": "CMMLU", "arc_challenge": "ARC-C",
          "humaneval": "HumanEval"}  # fmt: skip


def _task_headers(tasks: list[str]) -> list[str]:
    return [_SHORT.get(t, t) for t in tasks]


def _params(params: dict[str, Any]) -> str:
    if not params:
        return ""
    return ", ".join(f"{k}={v}" for k, v in params.items() if not isinstance(v, dict))


def quality_report(result: dict[str, Any]) -> str:
    """The quality table, the domain metrics, the chosen settings and leave-one-task-out."""
    tasks = result["tasks"]
    headers = ["router", *_task_headers(tasks), "average"]
    rows = [
        [row["router"], *(row["tasks"].get(t) for t in tasks), row["average"]]
        for row in result["rows"]
    ]
    parts = ["Quality on the RouterDC test split (%; train → test)", format_table(headers, rows)]
    chosen = [
        [r["router"], _params(r["params"]), r["validation"]]
        for r in result["rows"]
        if r["kind"] in ("baseline", "ir3de", "ir3de+")
    ]
    folds = result.get("folds", 1)
    where = "a validation split of train" if folds <= 1 else f"{folds}-fold CV on train"
    parts += [
        f"\nHyper-parameters chosen on {where} (validation average %)",
        format_table(["router", "chosen", "validation"], chosen),
    ]
    own = [[r["router"], _params(r["params"])] for r in result["rows"] if r["kind"] == "defaults"]
    if own:
        parts += [
            "\nDefaults rows: what each router chose by its own 5-fold CV on train",
            format_table(["router", "chosen by the router"], own),
        ]
    domain = [
        [r["router"], d["routing_accuracy"], d["normalized_routing_accuracy"],
         d["normalized_performance"]]
        for r in result["rows"] if (d := r.get("domain"))
    ]  # fmt: skip
    if domain:
        parts += [
            "\nDomain metrics on test (%; normalized performance = routed / task-oracle accuracy)",
            format_table(
                ["router", "routing acc.", "normalized routing acc.", "normalized perf."], domain
            ),
        ]
    loto = result.get("leave_one_task_out")
    if loto:
        loto_rows = [
            [r["router"], *(r["tasks"].get(t) for t in loto["tasks"]), r["average"]]
            for r in loto["rows"]
        ]
        parts += [
            "\nLeave one task out: accuracy on the held-out task's test prompts (%)",
            format_table(["router", *_task_headers(loto["tasks"]), "average"], loto_rows),
        ]
    return "\n".join(parts)


def _fit_times(result: dict[str, Any]) -> list[str]:
    rows = [[r["router"], r["auto_seconds"], r["plain_seconds"], r["ratio"]]
            for r in result.get("fit_times") or []]  # fmt: skip
    if not rows:
        return []
    return [
        f"\nFit time on {result['n_fit']} prompts: defaults (α, aggregation and safe default "
        "cross-validated) against one plain fit (α = 1, nothing tuned), featurizing included",
        format_table(["router", "auto s", "plain s", "auto / plain"], rows, digits=3),
    ]


def speed_report(result: dict[str, Any]) -> str:
    """The speed table: latency, throughput, fit and add/remove-expert times, ratios."""
    headers = ["router", "p50 ms", "p99 ms", "prompts/s", "fit s", "× kNN p50", "× ST fwd p50"]
    rows = [
        [r["router"], r["p50_ms"], r["p99_ms"], r["throughput"], r.get("fit_seconds"),
         r.get("vs_knn"), r.get("vs_forward")]
        for r in result["routers"]
    ]  # fmt: skip
    parts = (
        [
            f"Speed on {result['n_prompts']} test prompts ({result['threads']} thread(s), "
            f"medians of {result['repeats']} repeats)",
            format_table(headers, rows, digits=3),
        ]
        if rows
        else []
    )
    experts = result.get("experts_update") or []
    if experts:
        parts += [
            "\nAdding / removing an expert (ms) and the gap to a fresh fit",
            format_table(
                ["router", "d", "add ms", "remove ms", "fresh fit ms", "max |Δcoef| vs fresh"],
                [
                    [
                        e["router"],
                        e["d"],
                        e["add_ms"],
                        e["remove_ms"],
                        e["fresh_fit_ms"],
                        e["max_coef_diff"],
                    ]
                    for e in experts
                ],
                digits=3,
            ),
        ]
    return "\n".join(parts + _fit_times(result))
