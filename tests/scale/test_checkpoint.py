"""Checkpoints: an interrupted fit resumes to the router of an uninterrupted one; bad ones fail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ir3de_cli.main import main
from ir3de_core.fit.parts import FitPart
from ir3de_core.fit.spec import FitSpec
from ir3de_core.router import IR3DERouter
from ir3de_core.scale.checkpoint import CheckpointError, load_checkpoint
from ir3de_core.scale.training import fit_stream
from tests.scale.data import assert_same_router, write_records

HASH = {"kind": "hashing", "n_features": 128}


@pytest.fixture(scope="module")
def records_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_records(tmp_path_factory.mktemp("data") / "records.jsonl", copies=1)


class Interrupted(Exception):
    pass


def _interrupt_after(monkeypatch: pytest.MonkeyPatch, n_chunks: int) -> None:
    """Make the n-th chunk of the next fit raise, as if the process were killed there."""
    real, calls = FitSpec.records_part, {"n": 0}

    def flaky(spec: FitSpec, records: list) -> FitPart:
        calls["n"] += 1
        if calls["n"] > n_chunks:
            raise Interrupted
        return real(spec, records)

    monkeypatch.setattr(FitSpec, "records_part", flaky)


@pytest.mark.parametrize(("featurizer", "target"), [(HASH, "domain"), ("tokens", "quality")])
def test_resume_equals_uninterrupted(
    records_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    featurizer: object,
    target: str,
) -> None:
    def run() -> object:
        return fit_stream(IR3DERouter(featurizer, target=target), [records_file], chunk_size=20,
                          progress=False, checkpoint=tmp_path / "ck", checkpoint_every=2)  # fmt: skip

    want = fit_stream(IR3DERouter(featurizer, target=target), [records_file], progress=False)
    with monkeypatch.context() as patch:
        _interrupt_after(patch, 5)
        with pytest.raises(Interrupted):
            run()
    saved = load_checkpoint(tmp_path / "ck")
    assert saved is not None and not saved.complete
    assert saved.part.n_records == 4 * 20  # the last checkpoint, after chunk 4
    result = run()
    assert result.resumed_from == 80
    assert result.n_records == want.n_records
    assert_same_router(result.router, want.router)
    assert len(list((tmp_path / "ck").glob("state-*.npz"))) == 1  # old states are removed


def test_complete_checkpoint_refits_without_reading(records_file: Path, tmp_path: Path) -> None:
    kwargs = {"progress": False, "checkpoint": tmp_path / "ck"}
    first = fit_stream(IR3DERouter(HASH), [records_file], **kwargs)  # type: ignore[arg-type]
    again = fit_stream(IR3DERouter(HASH), [records_file], **kwargs)  # type: ignore[arg-type]
    assert again.resumed_from == first.n_records
    assert_same_router(again.router, first.router)


def _checkpointed(records_file: Path, directory: Path) -> Path:
    fit_stream(IR3DERouter(HASH), [records_file], progress=False, checkpoint=directory)
    return directory


def test_corrupt_arrays_are_refused(records_file: Path, tmp_path: Path) -> None:
    directory = _checkpointed(records_file, tmp_path / "ck")
    npz = next(directory.glob("state-*.npz"))
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0xFF
    npz.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum"):
        fit_stream(IR3DERouter(HASH), [records_file], progress=False, checkpoint=directory)


def test_truncated_manifest_is_refused(records_file: Path, tmp_path: Path) -> None:
    directory = _checkpointed(records_file, tmp_path / "ck")
    manifest = directory / "checkpoint.json"
    manifest.write_text(manifest.read_text()[:100])
    with pytest.raises(CheckpointError, match="not valid JSON"):
        fit_stream(IR3DERouter(HASH), [records_file], progress=False, checkpoint=directory)


def test_tampered_shapes_are_refused(records_file: Path, tmp_path: Path) -> None:
    directory = _checkpointed(records_file, tmp_path / "ck")
    manifest = directory / "checkpoint.json"
    spec = json.loads(manifest.read_text())
    fold = spec["folds"]["rows"][0]  # a tuned fit keeps statistics per fold
    fold["names"] = fold["names"][:-1]
    manifest.write_text(json.dumps(spec))
    with pytest.raises(CheckpointError, match="edited after it was written"):
        fit_stream(IR3DERouter(HASH), [records_file], progress=False, checkpoint=directory)


def test_mismatched_featurizer_is_refused(records_file: Path, tmp_path: Path) -> None:
    directory = _checkpointed(records_file, tmp_path / "ck")
    other = {**HASH, "n_features": 256}
    with pytest.raises(CheckpointError, match=r"featurizer\.n_features"):
        fit_stream(IR3DERouter(other), [records_file], progress=False, checkpoint=directory)


def test_input_edited_in_place_is_refused(records_file: Path, tmp_path: Path) -> None:
    """Same size, other bytes: the sums would be stale (a size check does not see it)."""
    copy = tmp_path / "records.jsonl"
    copy.write_bytes(records_file.read_bytes())
    directory = _checkpointed(copy, tmp_path / "ck")
    data = bytearray(copy.read_bytes())
    at = data.index(b'"domain": "') + len(b'"domain": "')
    data[at : at + 1] = b"X" if data[at : at + 1] != b"X" else b"Y"
    copy.write_bytes(bytes(data))
    assert copy.stat().st_size == records_file.stat().st_size
    with pytest.raises(CheckpointError, match="changed since"):
        fit_stream(IR3DERouter(HASH), [copy], progress=False, checkpoint=directory)


def test_a_log_that_grew_is_read_on_from_the_checkpoint(records_file: Path, tmp_path: Path) -> None:
    """Appending to the last input file after a complete fit: the rerun reads only the new lines
    and equals a fit on the whole file."""
    copy = tmp_path / "records.jsonl"
    lines = records_file.read_text().splitlines(keepends=True)
    copy.write_text("".join(lines[:100]))
    counts = {**HASH, "tfidf": False}  # TF-IDF weights would have to be learned again
    fit_stream(IR3DERouter(counts), [copy], progress=False, checkpoint=tmp_path / "ck")
    fit_stream(IR3DERouter(HASH), [copy], progress=False, checkpoint=tmp_path / "tfidf")
    with copy.open("a") as handle:
        handle.write("".join(lines[100:]))
    grown = fit_stream(IR3DERouter(counts), [copy], progress=False, checkpoint=tmp_path / "ck")
    assert grown.resumed_from == 100 and grown.n_records == len(lines)
    want = fit_stream(IR3DERouter(counts), [records_file], progress=False)
    assert_same_router(grown.router, want.router)
    with pytest.raises(CheckpointError, match="changed since"):
        fit_stream(IR3DERouter(HASH), [copy], progress=False, checkpoint=tmp_path / "tfidf")


def test_a_checkpoint_edited_to_complete_is_refused(records_file: Path, tmp_path: Path) -> None:
    def run(**kwargs: object) -> object:
        return fit_stream(IR3DERouter(HASH), [records_file], progress=False, chunk_size=20,
                          checkpoint=tmp_path / "ck", checkpoint_every=1, **kwargs)  # type: ignore[arg-type]  # fmt: skip

    real = FitSpec.records_part
    calls = {"n": 0}

    def flaky(spec: FitSpec, records: list) -> FitPart:
        calls["n"] += 1
        if calls["n"] > 2:
            raise Interrupted
        return real(spec, records)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FitSpec, "records_part", flaky)
        with pytest.raises(Interrupted):
            run()
    manifest = tmp_path / "ck" / "checkpoint.json"
    spec = json.loads(manifest.read_text())
    assert spec["complete"] is False
    spec["complete"] = True
    manifest.write_text(json.dumps(spec))
    with pytest.raises(CheckpointError, match="edited after it was written"):
        run()


def test_cli_reports_a_bad_checkpoint(
    records_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = _checkpointed(records_file, tmp_path / "ck")
    (directory / "checkpoint.json").write_text("{}")
    code = main(["-q", "fit", "--data", str(records_file), "--featurizer", "hashing",
                 "--checkpoint", str(directory), "--out", str(tmp_path / "r")])  # fmt: skip
    assert code == 2
    assert "not an ir3de fit checkpoint" in capsys.readouterr().err
