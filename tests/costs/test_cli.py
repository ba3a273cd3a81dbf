"""`ir3de calibrate` then `ir3de route` on a tiny priced data set (hashing: fast, offline)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ir3de_cli.main import main
from ir3de_core import IR3DERouter


def calibrate(argv: list[str]) -> int:
    return main(["-q", "calibrate", *argv])


MATH = ["solve 2x + 3 = 7", "integrate x squared", "what is 17 times 23", "factor x^2 - 1"]
CHAT = ["say hello politely", "write a haiku on rain", "greet my friend", "tell a short joke"]


@pytest.fixture
def priced_data(tmp_path: Path) -> Path:
    path = tmp_path / "calib.jsonl"
    rows = []
    for i in range(6):
        for prompt in MATH:  # the dear expert is needed for maths; the cheap one is fine for chat
            rows.append({"prompt": f"{prompt} #{i}", "task": "math",
                         "scores": {"cheap": 0.0, "dear": 1.0}, "costs": {"cheap": 0.1, "dear": 1.0}})  # fmt: skip
        for prompt in CHAT:
            rows.append({"prompt": f"{prompt} #{i}", "task": "chat",
                         "scores": {"cheap": 1.0, "dear": 1.0}, "costs": {"cheap": 0.1, "dear": 1.0}})  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def model(tmp_path: Path, priced_data: Path) -> Path:
    out = tmp_path / "model"
    code = main(["-q", "fit", "--data", str(priced_data), "--target", "quality",
                 "--featurizer", "hashing", "--out", str(out)])  # fmt: skip
    assert code == 0
    return out


def test_calibrate_prints_lambda_and_meets_budget(
    model: Path, priced_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "calibration.json"
    code = calibrate(["--model", str(model), "--data", str(priced_data),
                      "--budget", "0.6", "--json", str(out)])  # fmt: skip
    assert code == 0
    text = capsys.readouterr().out
    assert "budget 0.6/query → λ =" in text
    assert "AIQ of the λ curve" in text
    saved = json.loads(out.read_text())
    assert saved["cost"] <= 0.6
    assert saved["quality"] > 0.9  # maths to the dear expert, chat to the cheap one


def test_calibrate_with_prices_and_default(
    model: Path, priced_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = calibrate(["--model", str(model), "--data", str(priced_data),
                      "--budget", "0.01", "--price", "cheap=0.5", "--price", "dear=5",
                      "--default", "dear"])  # fmt: skip
    assert code == 0
    assert "threshold" in capsys.readouterr().out


def test_calibrate_rejects_unknown_default(
    model: Path, priced_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = calibrate(["--model", str(model), "--data", str(priced_data),
                      "--budget", "0.5", "--default", "nobody"])  # fmt: skip
    assert code == 2
    assert "nobody" in capsys.readouterr().err


def test_calibrated_policy_is_saved_and_route_prints_its_rule(
    model: Path, priced_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert IR3DERouter.load(model).policy_.lam == 0.0
    assert calibrate(["--model", str(model), "--data", str(priced_data), "--budget", "0.6"]) == 0
    policy = IR3DERouter.load(model).policy_
    assert policy.lam > 0
    assert policy.budget == 0.6
    assert policy.prices == pytest.approx({"cheap": 0.1, "dear": 1.0})
    assert policy.price_unit == "query"
    capsys.readouterr()
    assert main(["route", "--model", str(model), "what is 17 times 23", "say hello politely"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["expert"] for line in lines] == ["dear", "cheap"]
    assert {line["rule"] for line in lines} == {"cost"}
    assert lines[0]["cost"] == pytest.approx(1.0)
    assert lines[1]["predicted_quality"] > 0.5
    assert lines[0]["lam"] == pytest.approx(policy.lam)
    assert list(lines[0])[:5] == ["prompt", "expert", "rule", "predicted_quality", "cost"]


def test_dry_run_leaves_the_model_alone(model: Path, priced_data: Path) -> None:
    before = (model / "router.json").read_bytes()
    code = calibrate(["--model", str(model), "--data", str(priced_data), "--budget", "0.6",
                      "--dry-run"])  # fmt: skip
    assert code == 0
    assert (model / "router.json").read_bytes() == before
