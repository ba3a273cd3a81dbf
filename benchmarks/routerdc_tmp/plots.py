"""Confusion-matrix heat maps of the domain routers (matplotlib, the ``plot`` extra, lazy)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ir3de_core.exceptions import MissingDependencyError

__all__ = ["confusion_heatmap", "save_confusion_plots", "slug"]


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
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        msg = "plots need matplotlib; install it with: pip install 'ir3de[plot]'"
        raise MissingDependencyError(msg) from e
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
