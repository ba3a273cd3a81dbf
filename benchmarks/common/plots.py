"""Benchmark figures (matplotlib, the ``plot`` extra, imported on first use): confusion-matrix
heat maps of the domain routers and cost–quality curves."""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ir3de_core._optional import require
from ir3de_core.decide.metrics import quality_hull

__all__ = ["confusion_heatmap", "plot_cost_quality", "save_confusion_plots", "slug"]


def _pyplot() -> Any:
    """``matplotlib.pyplot`` on the file-only Agg backend (MissingDependencyError without it)."""
    matplotlib = require("matplotlib", "plot")
    matplotlib.use("Agg")
    return importlib.import_module("matplotlib.pyplot")


def slug(name: str) -> str:
    """A file-name-safe version of a router name."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def confusion_heatmap(
    labels: Sequence[str], matrix: Sequence[Sequence[int]], path: Path, *, title: str
) -> Path:
    """Save a row-normalised confusion matrix as a PNG heat map.

    Args:
        labels: the m domain names (rows: true domain, columns: predicted domain).
        matrix: counts, shape (m, m).
        path: the PNG to write.
        title: the figure title.
    """
    plt = _pyplot()
    counts = np.asarray(matrix, dtype=np.float64)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5.5, 4.8))
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted domain")
    ax.set_ylabel("true domain")
    ax.set_title(title, fontsize=9)
    for i in range(len(labels)):
        for j in range(len(labels)):
            color = "white" if shares[i, j] > 0.5 else "black"
            ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", color=color, fontsize=8)
    fig.colorbar(image, ax=ax, label="share of the true domain")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def save_confusion_plots(rows: Sequence[dict[str, Any]], directory: Path) -> dict[str, str]:
    """One heat map per router row that has domain metrics; returns router → PNG path."""
    out = {}
    for row in rows:
        confusion = (row.get("domain") or {}).get("confusion")
        if not confusion:
            continue
        path = directory / f"confusion-{slug(row['router'])}.png"
        confusion_heatmap(confusion["labels"], confusion["matrix"], path, title=row["router"])
        out[row["router"]] = str(path)
    return out


def plot_cost_quality(
    curves: Mapping[str, tuple[ArrayLike, ArrayLike]],
    path: str | Path,
    *,
    title: str = "cost–quality",
    markers: Mapping[str, tuple[float, float]] | None = None,
) -> Path:
    """Draw each router's points and hull; write a PNG.

    Args:
        curves: name → (costs (m,), qualities (m,)).
        path: the PNG file to write.
        title: the figure title.
        markers: name → (cost, quality) single points, e.g. each LLM alone.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for name, (c, q) in curves.items():
        hc, hq = quality_hull(c, q)
        (line,) = ax.plot(hc, hq, label=name)
        ax.scatter(np.asarray(c), np.asarray(q), s=6, alpha=0.4, color=line.get_color())
    for name, (c, q) in (markers or {}).items():
        ax.scatter([c], [q], marker="x", color="black", s=20)
        ax.annotate(name, (c, q), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set(xlabel="average cost per query (USD)", ylabel="average quality", title=title)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return out
