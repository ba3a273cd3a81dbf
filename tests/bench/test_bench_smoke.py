"""Smoke runs of `python -m benchmarks quality|speed` on a few hundred prompts, so they cannot rot.

These check structure and sanity, never speed or a quality target (those are measured by the
full benchmark, see docs/benchmarks.md). They skip when ../shared/data is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.__main__ import main
from benchmarks.routerdc.quality import QualityOptions, run_quality
from benchmarks.routerdc.speed import SpeedOptions, run_speed
from benchmarks.routerdc.tables import quality_report, speed_report
from benchmarks.routerdc.variants import default_variants, quick

pytestmark = pytest.mark.shared_data


def _variants(*names: str) -> list:
    return [quick(v) for v in default_variants() if v.name in names]


def test_quality_smoke(shared_data: Path, tmp_path: Path) -> None:
    options = QualityOptions(
        shared_data / "routerdc", limit=20, quick=True, plots=tmp_path, progress=False
    )
    variants = _variants("IR3DE tokens+domain, vote", "IR3DE+ tokens domain × tokens quality")
    result = run_quality(options, variants)
    rows = {r["router"]: r for r in result["rows"]}
    assert result["tasks"] == ["mmlu", "gsm8k", "cmmlu", "arc_challenge", "humaneval"]
    assert rows["RouterDC (quoted from its paper, not run)"]["average"] == 58.54
    oracle = rows["per-query oracle"]["average"]
    for row in result["rows"]:
        assert set(row["tasks"]) == set(result["tasks"])
        assert 0.0 <= row["average"] <= 100.0
        assert row["kind"] == "quoted" or row["average"] <= oracle + 1e-9
        assert row["average"] == pytest.approx(np.mean(list(row["tasks"].values())))
    assert {"kNN on sentence embeddings", "MLP on sentence embeddings"} <= set(rows)
    domain = rows["IR3DE tokens+domain, vote"]["domain"]
    assert 0 <= domain["routing_accuracy"] <= 100
    assert len(domain["confusion"]["matrix"]) == 5
    assert Path(result["plots"]["IR3DE tokens+domain, vote"]).stat().st_size > 1000
    loto = {r["router"]: r for r in result["leave_one_task_out"]["rows"]}
    assert set(loto["IR3DE tokens+domain, vote"]["tasks"]) == set(result["tasks"])
    assert "Leave one task out" in quality_report(result)
    json.dumps(result)


def test_speed_smoke(shared_data: Path) -> None:
    options = SpeedOptions(
        shared_data / "routerdc", n_fit=20, n_prompts=60, n_single=20, repeats=1, warmup=2,
        sentence=False,
    )  # fmt: skip
    result = run_speed(options, _variants("IR3DE tokens+domain, vote", "IR3DE hashing+quality"))
    assert [r["router"] for r in result["routers"]] == [
        "IR3DE tokens+domain, vote", "IR3DE hashing+quality",
    ]  # fmt: skip
    for row in result["routers"]:
        assert 0 < row["p50_ms"] <= row["p99_ms"]
        assert row["throughput"] > 0 and row["fit_seconds"] > 0
    for update in result["experts_update"]:
        assert update["add_ms"] > 0 and update["remove_ms"] > 0
        assert update["max_coef_diff"] < 1e-6  # adding an expert equals a fresh fit
    assert "prompts/s" in speed_report(result)
    json.dumps(result)


def test_speed_fit_times_only(shared_data: Path) -> None:
    options = SpeedOptions(shared_data / "routerdc", n_fit=20, sentence=False, fit_times_only=True)
    result = run_speed(options)
    assert result["routers"] == [] and result["experts_update"] == []
    assert [r["router"] for r in result["fit_times"]] == ["tokens, domain", "tokens, quality"]
    assert all(r["auto_seconds"] > 0 and r["plain_seconds"] > 0 for r in result["fit_times"])
    report = speed_report(result)
    assert "auto / plain" in report and "prompts/s" not in report


def test_cli_writes_json(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "quality.json"
    argv = ["-q", "quality", "--data", str(shared_data / "routerdc"), "--limit", "10",
            "--quick", "--no-sentence", "--no-loto", "--json", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert "task oracle (chosen on train)" in capsys.readouterr().out
    assert json.loads(out.read_text())["rows"]


def test_cli_says_where_the_data_should_be(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["speed", "--data", str(tmp_path / "absent")]) == 2
    assert "RouterDC data not found" in capsys.readouterr().err
