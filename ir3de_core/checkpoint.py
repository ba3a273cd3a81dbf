"""Resumable checkpoints of a streaming fit: ``checkpoint.json`` + a numbered ``.npz``, no pickle.

A checkpoint holds the summed `FitPart` so far, the featurizer's learned arrays (the TF-IDF
weights), the settings it was computed with and where in the input files to resume. Writes are
atomic: the arrays go to a new ``state-<n>.npz``, then ``checkpoint.json`` (which names that file
and its SHA-256) is replaced in one ``os.replace``; an interrupted write leaves the previous
checkpoint intact. Loading checks the format, the checksum, every array's shape and dtype.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ir3de_core._version import __version__
from ir3de_core.arrayfile import array_specs, read_checked_npz, read_manifest, sha256, write_json
from ir3de_core.exceptions import IR3DEError
from ir3de_core.parts import FitPart, ScoreMeans
from ir3de_core.statistics import SufficientStatistics

__all__ = ["Checkpoint", "CheckpointError", "Position", "load_checkpoint", "save_checkpoint"]

FORMAT, FORMAT_VERSION, MANIFEST = "ir3de-fit-checkpoint", 1, "checkpoint.json"
_FEATURIZER = "featurizer_"


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
        files: ``[{"path": str, "size": int}]``, the input files when the checkpoint was written.
        position: where to resume.
        part: the summed statistics and score sums so far.
        featurizer_state: the featurizer's learned arrays (e.g. ``{"idf": (d,)}``).
        complete: whether every input record is in `part`.
    """

    settings: dict[str, Any]
    files: list[dict[str, Any]]
    position: Position = field(default_factory=Position)
    part: FitPart = field(default_factory=lambda: FitPart(n_parts=0))
    featurizer_state: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    complete: bool = False


def save_checkpoint(directory: Path, checkpoint: Checkpoint) -> None:
    """Write `checkpoint` to `directory` atomically (created if needed)."""
    directory.mkdir(parents=True, exist_ok=True)
    previous = _current_npz(directory)
    arrays = _arrays(checkpoint)
    npz = directory / f"state-{_next_number(directory):06d}.npz"
    with npz.open("wb") as handle:
        np.savez(handle, **arrays)  # type: ignore[arg-type]
        handle.flush()
        os.fsync(handle.fileno())
    part, stats = checkpoint.part, checkpoint.part.statistics
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "ir3de_version": __version__,
        "settings": checkpoint.settings,
        "files": checkpoint.files,
        "position": asdict(checkpoint.position),
        "complete": checkpoint.complete,
        "counts": {"records": part.n_records, "scores": part.n_scores, "parts": part.n_parts},
        "statistics": None if stats is None else {"names": stats.names, "design": stats.design},
        "means": {"domains": part.means.domains, "experts": part.means.experts},
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
        part = FitPart(stats, means, counts["records"], counts["scores"], counts["parts"])
        state = {
            k.removeprefix(_FEATURIZER): v for k, v in arrays.items() if k.startswith(_FEATURIZER)
        }
        return Checkpoint(
            settings=manifest["settings"],
            files=manifest["files"],
            position=Position(**manifest["position"]),
            part=part,
            featurizer_state=state,
            complete=bool(manifest["complete"]),
        )
    except (KeyError, TypeError, ValueError, IR3DEError) as e:
        msg = f"{path} is inconsistent ({e}); delete {directory} to start the fit afresh"
        raise CheckpointError(msg) from e


def _arrays(checkpoint: Checkpoint) -> dict[str, np.ndarray]:
    part = checkpoint.part
    arrays: dict[str, np.ndarray] = {
        "means_sums": part.means.sums,
        "means_counts": part.means.counts,
    }
    if part.statistics is not None:
        arrays.update(part.statistics.to_arrays())
    arrays.update({_FEATURIZER + k: v for k, v in checkpoint.featurizer_state.items()})
    return arrays


def _read_manifest(path: Path) -> dict[str, Any]:
    required = ("settings", "files", "position", "complete", "counts", "statistics", "means")
    return read_manifest(
        path, FORMAT, (FORMAT_VERSION,), (*required, "npz", "sha256", "arrays"),
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
