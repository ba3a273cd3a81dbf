"""Benchmark figures: cost–quality curves and confusion heat maps are written as PNG files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.common.plots import confusion_heatmap, plot_cost_quality, save_confusion_plots
from ir3de_core.exceptions import MissingDependencyError

PNG = b"\x89PNG\r\n\x1a\n"
# (3, 0.7) is dominated and (3, 0.84) lies below the hull segment (2, 0.8)–(4, 0.9).
COSTS = [1.0, 2.0, 3.0, 4.0, 3.0]
QUALITY = [0.5, 0.8, 0.7, 0.9, 0.84]


def test_plot_writes_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = plot_cost_quality(
        {"router": (COSTS, QUALITY)}, tmp_path / "curve.png", markers={"x": (2.0, 0.6)}
    )
    assert out.read_bytes()[:8] == PNG


def test_confusion_plots_one_png_per_domain_router(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    confusion = {"labels": ["code", "math"], "matrix": [[9, 1], [2, 8]]}
    rows: list[dict[str, Any]] = [
        {"router": "IR3DE tokens+domain, vote", "domain": {"confusion": confusion}},
        {"router": "kNN on sentence embeddings"},  # no domain metrics: no plot
    ]
    written = save_confusion_plots(rows, tmp_path)
    assert list(written) == ["IR3DE tokens+domain, vote"]
    path = Path(written["IR3DE tokens+domain, vote"])
    assert path.name == "confusion-ir3de-tokens-domain-vote.png"
    assert path.read_bytes()[:8] == PNG


def test_without_matplotlib_the_error_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails
    with pytest.raises(MissingDependencyError, match=r"ir3de\[plot\]"):
        confusion_heatmap(["a"], [[1]], tmp_path / "x.png", title="x")
    with pytest.raises(MissingDependencyError, match=r"ir3de\[plot\]"):
        plot_cost_quality({"router": (COSTS, QUALITY)}, tmp_path / "curve.png")
    assert not list(tmp_path.iterdir())
