"""Resumable checkpoints of a streaming fit: ``checkpoint.json`` + a numbered ``.npz``, no pickle.

A checkpoint holds the summed `FitPart` so far, the featurizer's learned arrays (the TF-IDF
weights), the settings it was computed with, where in the input files to resume and the SHA-256
of every input byte consumed (`ir3de_core.scale.consumed`). Writes are atomic: the arrays go to a new
``state-<n>.npz``, then ``checkpoint.json`` (which names that file and its SHA-256) is replaced in
one ``os.replace``; an interrupted write leaves the previous checkpoint intact. Loading checks
the format, the checksum, every array's shape and dtype, and a digest of the manifest's content
stored inside the arrays: a ``checkpoint.json`` edited by hand (``complete: true``, renamed
statistics, another position) is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ir3de_core._version import __version__
from ir3de_core.data.records import Record
from ir3de_core.exceptions import IR3DEError
from ir3de_core.fit.folds import HeldOutSample
from ir3de_core.fit.parts import FitPart, FoldStatistics, ScoreMeans
from ir3de_core.persistence.arrayfile import (
    array_specs,
    read_checked_npz,
    read_manifest,
    sha256,
    write_json,
)
from ir3de_core.ridge.statistics import SufficientStatistics

__all__ = ["Checkpoint", "CheckpointError", "Position", "load_checkpoint", "save_checkpoint"]

FORMAT, FORMAT_VERSION, MANIFEST = "ir3de-fit-checkpoint", 2, "checkpoint.json"
_FEATURIZER = "featurizer_"
_DIGEST = "manifest_sha256"
_CONTENT = (
    "settings",
    "files",
    "consumed",
    "learned_from",
    "position",
    "complete",
    "counts",
    "statistics",
    "means",
    "folds",
    "sample",
)


class CheckpointError(IR3DEError, ValueError):
    """A checkpoint is corrupt, or was written for other settings or other input files."""


@dataclass(frozen=True)
class Position:
    """Where a stream stopped: resume reading `file` at byte `offset`, after `line` lines.

    Attributes:
        file: index of the file in the input list.
        offset: bytes of that file consumed (JSONL); 0 for formats read record by record.
        line: lines (JSONL) or records (other formats) of that file consumed.
    """

    file: int = 0
    offset: int = 0
    line: int = 0


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """The state of a streaming fit.

    Attributes:
        settings: router settings and featurizer config (JSON) the sums were computed with.
        files: the input files (resolved paths), in reading order.
        consumed: ``[{"path", "bytes", "sha256"}]``: the hash of every input byte in `part`.
        learned_from: the same for the first pass of a featurizer that learns from the data
            (TF-IDF): every byte of every file when its weights were learned.
        position: where to resume.
        part: the summed statistics and score sums so far.
        featurizer_state: the featurizer's learned arrays (e.g. ``{"idf": (d,)}``).
        complete: whether every input record is in `part`.
    """

    settings: dict[str, Any]
    files: list[str]
    consumed: list[dict[str, Any]] = field(default_factory=list)
    learned_from: list[dict[str, Any]] = field(default_factory=list)
    position: Position = field(default_factory=Position)
    part: FitPart = field(default_factory=lambda: FitPart(n_parts=0))
    featurizer_state: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    complete: bool = False


def save_checkpoint(directory: Path, checkpoint: Checkpoint) -> None:
    """Write `checkpoint` to `directory` atomically (created if needed)."""
    directory.mkdir(parents=True, exist_ok=True)
    previous = _current_npz(directory)
    part, stats = checkpoint.part, checkpoint.part.statistics
    content = {
        "settings": checkpoint.settings,
        "files": checkpoint.files,
        "consumed": checkpoint.consumed,
        "learned_from": checkpoint.learned_from,
        "position": asdict(checkpoint.position),
        "complete": checkpoint.complete,
        "counts": {"records": part.n_records, "scores": part.n_scores, "parts": part.n_parts},
        "statistics": None if stats is None else {"names": stats.names, "design": stats.design},
        "means": {"domains": part.means.domains, "experts": part.means.experts},
        "folds": {
            rep: [None if f is None else {"names": f.names, "design": f.design} for f in folds]
            for rep, folds in part.folds.items()
        },
        "sample": [r.to_dict() for r in part.sample.records()],
    }
    arrays = {**_arrays(checkpoint), _DIGEST: _digest(content)}
    npz = directory / f"state-{_next_number(directory):06d}.npz"
    with npz.open("wb") as handle:
        np.savez(handle, **arrays)  # type: ignore[arg-type]
        handle.flush()
        os.fsync(handle.fileno())
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "ir3de_version": __version__,
        **content,
        "npz": npz.name,
        "sha256": sha256(npz),
        "arrays": array_specs(arrays),
    }
    write_json(directory / MANIFEST, manifest)
    if previous is not None and previous != npz:
        previous.unlink(missing_ok=True)


def load_checkpoint(directory: Path) -> Checkpoint | None:
    """The checkpoint in `directory`, None when there is none; `CheckpointError` if corrupt."""
    path = directory / MANIFEST
    if not path.is_file():
        return None
    manifest = _read_manifest(path)
    arrays = _read_arrays(directory, manifest)
    stored = arrays.pop(_DIGEST, None)
    content = {k: manifest[k] for k in _CONTENT}
    if stored is None or not np.array_equal(stored, _digest(content)):
        msg = f"{path} was edited after it was written; delete {directory} to start the fit afresh"
        raise CheckpointError(msg)
    try:
        stats = None
        if manifest["statistics"] is not None:
            spec = manifest["statistics"]
            stats = SufficientStatistics.from_arrays(arrays, spec["names"], spec["design"])
        means = ScoreMeans(
            tuple(manifest["means"]["domains"]),
            tuple(manifest["means"]["experts"]),
            arrays["means_sums"],
            arrays["means_counts"],
        )
        if means.sums.shape != (len(means.domains), len(means.experts)):
            msg = f"score sums have shape {means.sums.shape}"
            raise ValueError(msg)
        counts = manifest["counts"]
        part = FitPart(
            stats, means, counts["records"], counts["scores"], counts["parts"],
            folds=_folds(manifest["folds"], arrays),
            sample=HeldOutSample.of([Record.from_dict(r) for r in manifest["sample"]]),
        )  # fmt: skip
        state = {
            k.removeprefix(_FEATURIZER): v for k, v in arrays.items() if k.startswith(_FEATURIZER)
        }
        return Checkpoint(
            settings=manifest["settings"],
            files=list(manifest["files"]),
            consumed=list(manifest["consumed"]),
            learned_from=list(manifest["learned_from"]),
            position=Position(**manifest["position"]),
            part=part,
            featurizer_state=state,
            complete=bool(manifest["complete"]),
        )
    except (KeyError, TypeError, ValueError, IR3DEError) as e:
        msg = f"{path} is inconsistent ({e}); delete {directory} to start the fit afresh"
        raise CheckpointError(msg) from e


def _folds(
    spec: dict[str, list[dict[str, Any] | None]], arrays: dict[str, np.ndarray]
) -> dict[str, tuple[FoldStatistics | None, ...]]:
    """The per-fold statistics of a tuned fit, from the manifest's names and the arrays (a
    fold kept as rows was saved as its statistics, and loads as them)."""
    return {
        rep: tuple(
            None if f is None
            else SufficientStatistics.from_arrays(arrays, f["names"], f["design"], _fold(rep, i))
            for i, f in enumerate(folds)
        )
        for rep, folds in spec.items()
    }  # fmt: skip


def _fold(rep: str, index: int) -> str:
    return f"fold_{rep}_{index}_"


def _arrays(checkpoint: Checkpoint) -> dict[str, np.ndarray]:
    part = checkpoint.part
    arrays: dict[str, np.ndarray] = {
        "means_sums": part.means.sums,
        "means_counts": part.means.counts,
    }
    if part.statistics is not None:
        arrays.update(part.statistics.to_arrays())
    for rep, folds in part.folds.items():
        for i, fold in enumerate(folds):
            if fold is not None:
                arrays.update(fold.to_arrays(_fold(rep, i)))
    arrays.update({_FEATURIZER + k: v for k, v in checkpoint.featurizer_state.items()})
    return arrays


def _digest(content: dict[str, Any]) -> NDArray[np.uint8]:
    """SHA-256 of the manifest's content (canonical JSON), as 32 bytes."""
    text = json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
    return np.frombuffer(hashlib.sha256(text).digest(), dtype=np.uint8).copy()


def _read_manifest(path: Path) -> dict[str, Any]:
    return read_manifest(
        path, FORMAT, (FORMAT_VERSION,), (*_CONTENT, "npz", "sha256", "arrays"),
        error=CheckpointError, what="an ir3de fit checkpoint",
        fix=f"delete {path.parent} and refit",
    )  # fmt: skip


def _read_arrays(directory: Path, manifest: dict[str, Any]) -> dict[str, np.ndarray]:
    return read_checked_npz(
        directory / Path(str(manifest["npz"])).name,
        checksum=manifest["sha256"],
        expected=manifest["arrays"],
        error=CheckpointError,
        fix=f"delete {directory} and refit",
    )


def _current_npz(directory: Path) -> Path | None:
    try:
        name = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))["npz"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return directory / Path(str(name)).name


def _next_number(directory: Path) -> int:
    numbers = [
        int(p.stem.split("-")[1]) for p in directory.glob("state-*.npz") if p.stem[6:].isdigit()
    ]
    return max(numbers, default=0) + 1
