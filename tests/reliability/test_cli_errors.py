"""Defects 3 and 4: the command line turns every expected error into one line
``ir3de <command>: error: ...`` on stderr and exit status 2 (never a traceback), checks its output
paths before any long work, and names the option of a bad setting."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ir3de_cli import commands
from ir3de_cli.main import main
from ir3de_core.exceptions import ExpertError

ROWS = [
    {"prompt": "what is 2+2", "domain": "math", "scores": {"a": 1, "b": 0}},
    {"prompt": "write a poem", "domain": "writing", "scores": {"a": 0, "b": 1}},
]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return path


@pytest.fixture(scope="module")
def model(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model") / "router"
    assert (
        main(["-q", "fit", "--data", str(data), "--featurizer", "hashing", "--out", str(out)]) == 0
    )
    return out


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run `argv`: exit status 2 and one line ``ir3de <command>: error: ...``; return that line."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"ir3de {argv[argv[0] == '-q']}: error: ")
    return lines[0]


def test_fit_out_must_be_a_directory_checked_before_reading_data(tmp_path, data, capsys) -> None:
    taken = tmp_path / "file.txt"
    taken.write_text("not a router")
    broken = tmp_path / "broken.jsonl"  # a data error would come first if data were read first
    broken.write_text("{not json\n")
    for out in (taken, taken / "sub"):
        line = _fails(["-q", "fit", "--data", str(broken), "--out", str(out)], capsys)
        assert f"--out {out}" in line and "is a file" in line
    line = _fails(["-q", "fit", "--data", str(data), "--out", str(tmp_path / "m"),
                   "--checkpoint", str(taken)], capsys)  # fmt: skip
    assert f"--checkpoint {taken} is a file" in line
    assert taken.read_text() == "not a router"


def test_route_input_directory_and_line_without_prompt(tmp_path, model, capsys) -> None:
    line = _fails(["route", "--model", str(model), "--input", str(tmp_path)], capsys)
    assert f"--input {tmp_path} is a directory" in line
    lines = tmp_path / "in.jsonl"
    lines.write_text('{"prompt": "what is 3+3"}\n{"text": "no prompt"}\n')
    line = _fails(["route", "--model", str(model), "--input", str(lines)], capsys)
    assert f"{lines}:2: no 'prompt' field" in line
    lines.write_bytes(b"\xef\xbb\xbfwhat is 3+3\ncaf\xe9\n")
    line = _fails(["route", "--model", str(model), "--input", str(lines)], capsys)
    assert f"{lines}:2: not UTF-8 text" in line


def test_route_input_skips_a_bom_like_the_data_readers(tmp_path, model, capsys) -> None:
    lines = tmp_path / "in.txt"
    lines.write_bytes(b'\xef\xbb\xbfwhat is 3+3\r\n{"prompt": "write a song"}\n')
    assert main(["route", "--model", str(model), "--input", str(lines)]) == 0
    routed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["prompt"] for r in routed] == ["what is 3+3", "write a song"]


def test_evaluate_json_must_not_be_a_directory_checked_first(tmp_path, model, data, capsys) -> None:
    line = _fails(["evaluate", "--model", str(model), "--data", str(data), "--json",
                   str(tmp_path)], capsys)  # fmt: skip
    assert f"--json {tmp_path} is a directory" in line
    line = _fails(["evaluate", "--model", str(model), "--data", str(data), "--json",
                   str(tmp_path / "no" / "e.json")], capsys)  # fmt: skip
    assert "does not exist" in line


def test_calibrate_json_is_checked_before_the_model_is_changed(
    tmp_path, model, data, capsys
) -> None:
    before = (model / "router.json").read_bytes()
    line = _fails(["calibrate", "--model", str(model), "--data", str(data), "--budget", "1",
                   "--json", str(tmp_path)], capsys)  # fmt: skip
    assert f"--json {tmp_path} is a directory" in line
    assert (model / "router.json").read_bytes() == before


def test_experts_out_must_be_a_directory_checked_before_the_change(tmp_path, model, capsys) -> None:
    taken = tmp_path / "file.txt"
    taken.write_text("not a router")
    before = (model / "router.json").read_bytes()
    line = _fails(["experts", "remove", "--model", str(model), "--name", "a", "--out", str(taken)],
                  capsys)  # fmt: skip
    assert f"--out {taken} is a file" in line
    assert taken.read_text() == "not a router"
    assert (model / "router.json").read_bytes() == before


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--alpha", "nan", "--alpha: alpha must be a number"),
     ("--alpha", "-1", "--alpha: alpha must be a number ≥ 0"),
     ("--cv", "1", "--cv: cv must be a number of folds"),
     ("--entropy-top-k", "0", "--entropy-top-k: entropy_top_k must be an integer ≥ 1")],
)  # fmt: skip
def test_bad_settings_name_the_option_before_reading_data(
    tmp_path, capsys, option: str, value: str, message: str
) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n")
    argv = ["fit", "--data", str(broken), option, value, "--out", str(tmp_path / "m")]
    assert message in _fails(argv, capsys)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("option", ["--chunk-size", "--checkpoint-every"])
def test_bad_counts_are_usage_errors_naming_the_option(tmp_path, data, capsys, option) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["fit", "--data", str(data), option, "0", "--out", str(tmp_path / "m")])
    assert exit_.value.code == 2
    assert f"ir3de fit: error: argument {option}: must be an integer ≥ 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    "error",
    [IsADirectoryError(21, "Is a directory", "/x/d"),
     NotADirectoryError(20, "Not a directory", "/x/f/g"),
     FileExistsError(17, "File exists", "/x/f"),
     PermissionError(13, "Permission denied", "/x/p"),
     FileNotFoundError(2, "No such file or directory", "/x/n"),
     UnicodeDecodeError("utf-8", b"\xe9", 0, 1, "invalid continuation byte"),
     ExpertError("unknown expert 'z'"), TypeError("bad type"), ValueError("bad value\nsecond line")],
    ids=lambda e: type(e).__name__,
)  # fmt: skip
def test_every_expected_error_is_one_line_and_status_2(
    monkeypatch, model, capsys, error: Exception
) -> None:
    def fail(args: object) -> int:
        raise error

    monkeypatch.setattr(commands, "route", fail)
    line = _fails(["route", "--model", str(model), "hi"], capsys)
    if isinstance(error, OSError):
        assert line.endswith(f"{error.filename}: {error.strerror}")


def test_an_interrupt_exits_130_without_a_traceback(monkeypatch, model, capsys) -> None:
    def stop(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "route", stop)
    try:
        code = main(["route", "--model", str(model), "hi"])
    except KeyboardInterrupt:
        pytest.fail("the interrupt escaped main()")
    assert code == 130
    assert capsys.readouterr().err == "ir3de route: interrupted\n"


def test_a_closed_output_pipe_ends_quietly(tmp_path, model) -> None:
    """``ir3de route ... | head -1``: no traceback, no "Exception ignored" noise."""
    prompts = tmp_path / "many.txt"
    prompts.write_text("".join(f"prompt number {i}\n" for i in range(5000)))
    argv = [sys.executable, "-m", "ir3de_cli.main", "route", "--model", str(model),
            "--input", str(prompts)]  # fmt: skip
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        assert json.loads(process.stdout.readline())["prompt"] == "prompt number 0"
        process.stdout.close()
        err = process.stderr.read().decode()
        assert process.wait(timeout=60) == 141
    assert err == ""
