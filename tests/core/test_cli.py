"""The `ir3de` command line end to end, in process (and once as the installed console script)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ir3de_cli.main import main
from ir3de_cli.sample import EXAMPLES, demo_records, demo_router


@pytest.fixture(scope="module")
def demo_jsonl(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "demo.jsonl"
    path.write_text("\n".join(json.dumps(r.to_dict()) for r in demo_records()) + "\n")
    return path


def test_fit_route_evaluate_and_manage_experts(tmp_path, demo_jsonl, capsys) -> None:
    model = tmp_path / "router"
    assert (
        main(
            ["-q", "fit", "--data", str(demo_jsonl), "--featurizer", "tokens", "--out", str(model)]
        )
        == 0
    )
    assert "fitted on 120 prompts" in capsys.readouterr().out
    assert (
        main(
            [
                "route",
                "--model",
                str(model),
                "--explain",
                "What is 17 * 23?",
                "Translate 'cat' to German",
            ]
        )
        == 0
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["expert"] for line in lines] == ["math", "multilingual"]
    assert lines[0]["prompt"] == "What is 17 * 23?" and lines[0]["explanation"]
    report = tmp_path / "eval.json"
    assert (
        main(["evaluate", "--model", str(model), "--data", str(demo_jsonl), "--json", str(report)])
        == 0
    )
    out = capsys.readouterr().out
    assert "routing accuracy" in out and "true \\ predicted" in out
    result = json.loads(report.read_text())
    assert result["tasks"] == {} and result["average_accuracy"] is None  # no scores in the demo
    assert result["routing_accuracy"] > 90
    assert main(["experts", "remove", "--model", str(model), "--name", "writing"]) == 0
    assert main(["experts", "list", "--model", str(model)]) == 0
    assert capsys.readouterr().out.splitlines()[-3:] == ["math", "code", "multilingual"]
    writing = tmp_path / "writing.jsonl"
    writing.write_text(
        "\n".join(json.dumps(r.to_dict()) for r in demo_records() if r.domain == "writing")
    )
    args = [
        "experts",
        "add",
        "--model",
        str(model),
        "--name",
        "writing",
        "--expert",
        "llama",
        "--data",
        str(writing),
    ]
    assert main(args) == 0
    assert "experts: math, code, multilingual, llama" in capsys.readouterr().out


def test_errors_exit_2_with_a_message(tmp_path, capsys) -> None:
    assert main(["route", "--model", str(tmp_path), "hello"]) == 2
    assert "router.json not found" in capsys.readouterr().err
    assert main(["fit", "--data", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.shared_data
def test_fit_and_evaluate_on_routerdc_writes_the_documented_json(
    shared_data, tmp_path, capsys
) -> None:
    data = tmp_path / "routerdc"
    data.mkdir()
    for task in ("gsm8k", "humaneval"):  # two small tasks keep the test fast
        for split in ("train", "test"):
            shutil.copy(shared_data / "routerdc" / f"{task}_{split}.json", data)
    model = tmp_path / "model"
    fit = [
        "-q",
        "fit",
        "--data",
        str(data),
        "--split",
        "train",
        "--featurizer",
        "hashing",
        "--out",
        str(model),
    ]
    assert main(fit) == 0
    report = tmp_path / "eval.json"
    assert (
        main(
            [
                "-q",
                "evaluate",
                "--model",
                str(model),
                "--data",
                str(data),
                "--split",
                "test",
                "--json",
                str(report),
            ]
        )
        == 0
    )
    result = json.loads(report.read_text())
    assert set(result["tasks"]) == {"gsm8k", "humaneval"}
    assert 0 < result["average_accuracy"] <= 100
    assert result["tasks"]["gsm8k"]["accuracy"] > 60  # the task's best experts are near 70%
    assert result["routing_accuracy"] > 90


def test_demo_runs_offline(capsys) -> None:
    assert main(["demo", "--featurizer", "hashing"]) == 0
    out = capsys.readouterr().out
    assert "IR3DE demo" in out and out.count("→") == 6 and "because of:" in out
    assert "| pooled " in out and "| vote " not in out  # hashing has no tokens to vote with
    assert "cross-validation (5 folds, 120 held-out prompts, routing accuracy)" in out


def test_demo_router_chooses_its_settings_by_cross_validation() -> None:
    router = demo_router("tokens")
    results = router.cv_results_
    assert results is not None and results["criterion"] == "routing accuracy"
    tried = {c["aggregation"] for c in results["candidates"] if c["alpha"] != math.inf}
    assert tried == {"vote", "average", "pooled"}
    chosen = max(c["score"] for c in results["candidates"])
    assert chosen > 0.8  # 4 balanced domains: chance is 0.25
    assert list(router.predict_domain(list(EXAMPLES))) == [
        "math", "code", "multilingual", "writing", "code", "math"
    ]  # fmt: skip


def test_fit_prints_what_cross_validation_chose(tmp_path, demo_jsonl, capsys) -> None:
    assert main(["fit", "--data", str(demo_jsonl), "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "cross-validation (5 folds, 120 held-out prompts, routing accuracy)" in out
    assert out.count("←") == 1 and "no prompt signal" in out
    assert "no prompt signal: every prompt goes" not in out
    rng = np.random.default_rng(0)  # labels that have nothing to do with the prompts
    noise = tmp_path / "noise.jsonl"
    noise.write_text("".join(
        json.dumps({**r.to_dict(), "domain": str(rng.choice(["a", "b"], p=[0.7, 0.3]))}) + "\n"
        for r in demo_records()
    ))  # fmt: skip
    assert main(["fit", "--data", str(noise), "--out", str(tmp_path / "n")]) == 0
    out = capsys.readouterr().out
    assert "no prompt signal: every prompt goes to the best single expert" in out
    assert main(["route", "--model", str(tmp_path / "n"), *EXAMPLES]) == 0
    routed = [json.loads(line)["expert"] for line in capsys.readouterr().out.splitlines()]
    assert set(routed) == {"a"}


def test_console_script_is_installed() -> None:
    exe = shutil.which("ir3de") or shutil.which("ir3de", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("the ir3de console script is not on PATH (package not installed)")
    result = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("ir3de ")
