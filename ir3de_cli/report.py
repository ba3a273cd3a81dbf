"""Plain-text tables for the command line and the benchmark scripts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["format_table", "tuning_report"]


def format_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], *, digits: int = 2
) -> str:
    """A Markdown-compatible table; floats are rounded to `digits`, None prints as '—'."""

    def cell(value: object) -> str:
        if value is None:
            return "—"
        if isinstance(value, float):
            return f"{value:.{digits}f}"
        return str(value)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    numeric = [
        all(_is_number(r[i]) for r in cells) if cells else False for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        padded = [
            v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(
            ("-" * (w + 1) + ":") if n else ("-" * (w + 2))
            for w, n in zip(widths, numeric, strict=True)
        )
        + "|"
    )
    return "\n".join([line(headers), rule, *(line(r) for r in cells)])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text == "—"
    return True


def tuning_report(results: dict[str, Any]) -> str:
    """What cross-validation chose: the best α of each aggregation, no signal, the threshold."""
    best: dict[str, dict[str, Any]] = {}
    for row in results["candidates"]:
        name = "no prompt signal" if row["alpha"] == math.inf else row["aggregation"]
        if name not in best or row["score"] > best[name]["score"]:
            best[name] = row
    no_signal = results["alpha"] == math.inf
    chosen = "no prompt signal" if no_signal else results["aggregation"]
    rows = [
        [name, "∞" if row["alpha"] == math.inf else f"{row['alpha']:.4g}", row["score"],
         "←" if name == chosen else ""]
        for name, row in best.items()
    ]  # fmt: skip
    lines = [
        f"cross-validation ({results['folds']} folds, {results['n_held_out']} held-out prompts, "
        f"{results['criterion']}):",
        format_table(["aggregation", "best α", "score", "chosen"], rows, digits=4),
    ]
    if no_signal:
        lines.append("no prompt signal: every prompt goes to the best single expert")
    if results["threshold"] is not None:
        lines.append(f"prompts below confidence {results['threshold']:.3g} go to the safe default")
    return "\n".join(lines)
