"""Streaming and chunked fits equal the in-memory fit; bounded memory; the CLI streams."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from ir3de_cli.main import main
from ir3de_core.data import load_records
from ir3de_core.router import IR3DERouter
from ir3de_core.scale.training import fit_records, fit_stream
from tests.scale.data import assert_same_router, reference_fit, synthetic_lines, write_records

HASH = {"kind": "hashing", "n_features": 128}
SETTINGS = [("tokens", "domain"), ("tokens", "quality"), (HASH, "domain"), (HASH, "quality")]


@pytest.fixture(scope="module")
def records_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_records(tmp_path_factory.mktemp("data") / "records.jsonl", copies=1)


@pytest.mark.parametrize(("featurizer", "target"), SETTINGS)
def test_stream_equals_in_memory_fit(records_file: Path, featurizer: Any, target: str) -> None:
    lines = records_file.read_text().splitlines()
    want = reference_fit(IR3DERouter(featurizer, target=target, missing_scores="ignore"), lines)
    result = fit_stream(
        IR3DERouter(featurizer, target=target, missing_scores="ignore"),
        [records_file],
        chunk_size=50,
        progress=False,
    )
    assert result.n_records == len(lines)
    assert result.resumed_from == 0
    assert_same_router(result.router, want)


@pytest.mark.parametrize(("featurizer", "target"), [SETTINGS[0], SETTINGS[3]])
def test_fit_records_equals_in_memory_fit(records_file: Path, featurizer: Any, target: str) -> None:
    lines = records_file.read_text().splitlines()
    want = reference_fit(IR3DERouter(featurizer, target=target, missing_scores="ignore"), lines)
    router = IR3DERouter(featurizer, target=target, missing_scores="ignore")
    got = fit_records(router, load_records([records_file]), chunk_size=50, progress=False)
    assert_same_router(got, want)


def test_expert_map_setting_wins_over_learned_map(records_file: Path) -> None:
    mapping = {"math": "m", "code": "c", "multilingual": "c", "writing": "m"}
    result = fit_stream(
        IR3DERouter(HASH, expert_map=mapping), [records_file], chunk_size=64, progress=False
    )
    assert result.router.expert_map_ == mapping


def test_domain_mode_needs_domains(tmp_path: Path) -> None:
    path = tmp_path / "nodomain.jsonl"
    path.write_text(json.dumps({"prompt": "hi there", "scores": {"a": 1.0}}) + "\n")
    with pytest.raises(ValueError, match="no 'domain'"):
        fit_stream(IR3DERouter("hashing"), [path], progress=False)


def test_bad_json_line_names_the_line(tmp_path: Path) -> None:
    lines = synthetic_lines(1)[:5]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([*lines[:3], "{not json", *lines[3:]]) + "\n")
    with pytest.raises(ValueError, match=r"bad\.jsonl:4: not valid JSON"):
        fit_stream(IR3DERouter("hashing"), [path], progress=False)


def test_csv_streams_like_loaded(tmp_path: Path) -> None:
    path = tmp_path / "bench.csv"
    rows = ["sample_id,prompt,eval_name,m1,m2"]
    for i, line in enumerate(synthetic_lines(1)[:60]):
        item = json.loads(line)
        prompt = item["prompt"].replace('"', "'")
        rows.append(f'{i},"{prompt}",{item["domain"]},{i % 2},{(i + 1) % 3 // 2}')
    path.write_text("\n".join(rows) + "\n")
    records = load_records([path])
    want = IR3DERouter(HASH, target="quality").fit(
        [r.prompt for r in records], [dict(r.scores) for r in records]
    )
    got = fit_stream(IR3DERouter(HASH, target="quality"), [path], chunk_size=7, progress=False)
    assert_same_router(got.router, want)


def _peak_streaming_bytes(path: Path, **settings: object) -> int:
    tracemalloc.start()
    router = IR3DERouter({"kind": "hashing", "n_features": 64}, **settings)  # type: ignore[arg-type]
    fit_stream(router, [path], chunk_size=64, progress=False)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_streaming_memory_does_not_grow_with_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory is one chunk, the sums and — to tune settings — at most SAMPLE_SIZE held-out
    records, whatever the size of the file."""
    # a scatter is kept as its factor until it holds d rows, then dense (d × d): every fold's
    # scatter of the small file (24 copies) is past that, so "does not grow" is a statement
    # about the file's size (at 4 copies the tuned folds are still half factors)
    small = write_records(tmp_path / "small.jsonl", copies=24)
    large = write_records(tmp_path / "large.jsonl", copies=96)  # 4x the records
    fixed = {
        "alpha": 1.0,
        "aggregation": "pooled",
        "safe_default": False,
        "confidence_temperature": 0.1,
    }
    _peak_streaming_bytes(small, **fixed)  # warm imports and caches
    assert _peak_streaming_bytes(large, **fixed) < 1.2 * _peak_streaming_bytes(small, **fixed)
    monkeypatch.setattr("ir3de_core.fit.folds.SAMPLE_SIZE", 100)  # both files exceed it
    _peak_streaming_bytes(small)
    assert _peak_streaming_bytes(large) < 1.2 * _peak_streaming_bytes(small)


def test_cli_fit_streams_and_saves(
    records_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "router"
    code = main(["-q", "fit", "--data", str(records_file), "--featurizer", "tokens",
                 "--aggregation", "pooled", "--chunk-size", "50", "--out", str(out)])  # fmt: skip
    assert code == 0
    lines = records_file.read_text().splitlines()
    assert f"fitted on {len(lines)} prompts" in capsys.readouterr().out
    router = IR3DERouter("tokens", aggregation="pooled", missing_scores="ignore")
    want = reference_fit(router, lines)
    assert_same_router(IR3DERouter.load(out), want)
