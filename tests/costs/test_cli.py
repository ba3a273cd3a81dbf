"""`ir3de calibrate` on a tiny priced data set (hashing featurizer: fast and offline)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from ir3de_core.cli import costs
from ir3de_core.cli.main import main


def calibrate(argv: list[str]) -> int:
    """Run ``ir3de calibrate`` through its own parser (independent of the plugin list)."""
    parser = argparse.ArgumentParser(prog="ir3de")
    costs.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["calibrate", *argv])
    return int(args.run(args))


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


def test_calibrate_rejects_unknown_default(model: Path, priced_data: Path) -> None:
    with pytest.raises(ValueError, match="nobody"):
        calibrate(["--model", str(model), "--data", str(priced_data),
                   "--budget", "0.5", "--default", "nobody"])  # fmt: skip


def test_calibrate_is_a_registered_command() -> None:
    from ir3de_core.cli import main as cli_main

    if "ir3de_core.cli.costs" not in cli_main._PLUGINS:
        pytest.skip("ir3de_core.cli.costs is not in _PLUGINS of this checkout yet")
    with pytest.raises(SystemExit) as exit_info:
        main(["calibrate", "--help"])
    assert exit_info.value.code == 0
