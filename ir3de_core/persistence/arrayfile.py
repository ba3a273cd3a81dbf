"""Plain-array files with a JSON manifest: SHA-256, shapes and dtypes checked, never unpickled.

Shared by saved routers (`persistence`) and fit checkpoints (`checkpoint`): one manifest reader,
one atomic JSON writer, one checked ``.npz`` reader.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ir3de_core._version import __version__

__all__ = ["array_specs", "read_checked_npz", "read_manifest", "sha256", "write_json"]


def write_json(path: Path, value: Any) -> None:
    """Write `value` as indented JSON to `path` atomically (a temporary file, then a rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_manifest(
    path: Path,
    format: str,
    versions: Collection[int],
    required: Sequence[str],
    *,
    error: type[Exception],
    what: str,
    fix: str,
) -> dict[str, Any]:
    """Read a JSON manifest and check its format name, version and required keys.

    Args:
        path: the manifest file.
        format: the expected ``format`` entry.
        versions: the ``format_version`` values this ir3de reads.
        required: keys the manifest must have.
        error: exception class raised on any problem.
        what: what the file should be, for messages (e.g. "an ir3de router").
        fix: what the user should do, appended to messages.
    """
    if not path.is_file():
        msg = f"{path} not found: is {path.parent} a directory holding {what}?"
        raise error(msg)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        msg = f"{path} is not valid JSON ({e}); the file is corrupted: {fix}"
        raise error(msg) from e
    if not isinstance(manifest, dict) or manifest.get("format") != format:
        msg = f"{path} is not {what} manifest (format != {format!r})"
        raise error(msg)
    version = manifest.get("format_version")
    if version not in versions:
        msg = (
            f"{path} has format version {version!r}; this ir3de ({__version__}) reads versions "
            f"{sorted(versions)}: upgrade ir3de, or {fix}"
        )
        raise error(msg)
    missing = [k for k in required if k not in manifest]
    if missing:
        msg = f"{path} lacks {missing}; the file is truncated or tampered with: {fix}"
        raise error(msg)
    return manifest


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def array_specs(arrays: Mapping[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """The manifest entry of each array: ``{name: {"shape": [...], "dtype": "<f8"}}``."""
    return {k: {"shape": list(v.shape), "dtype": v.dtype.str} for k, v in arrays.items()}


def read_checked_npz(
    path: Path,
    *,
    checksum: str,
    expected: Mapping[str, Mapping[str, Any]],
    error: type[Exception],
    fix: str,
) -> dict[str, np.ndarray]:
    """Load `path` only if it matches `checksum` and holds exactly the `expected` arrays.

    Nothing is read into memory before it is checked: the archive's member names, their storage
    (ir3de writes uncompressed members only, so no member can expand beyond the file's size) and
    each member's ``.npy`` header (dtype, shape, byte count) are compared with the manifest first.

    Args:
        path: the ``.npz`` file.
        checksum: its SHA-256 as recorded in the manifest.
        expected: the manifest's `array_specs`.
        error: exception class raised on any mismatch.
        fix: what the user should do, appended to every message.
    """
    if not path.is_file():
        msg = f"{path} not found; {fix}"
        raise error(msg)
    if not isinstance(checksum, str) or sha256(path) != checksum:
        msg = f"{path} does not match its checksum: it was modified or truncated; {fix}"
        raise error(msg)
    try:
        with zipfile.ZipFile(path) as archive:
            members = _checked_members(archive, expected)
            return {name: _read_member(archive, info) for name, info in members.items()}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        msg = f"{path} cannot be read as the plain arrays its manifest lists ({e}); {fix}"
        raise error(msg) from e


def _checked_members(
    archive: zipfile.ZipFile, expected: Mapping[str, Mapping[str, Any]]
) -> dict[str, zipfile.ZipInfo]:
    """Each expected array's archive member, after checking names, storage and headers."""
    infos = archive.infolist()
    names = [info.filename.removesuffix(".npy") for info in infos]
    if sorted(names) != sorted(expected) or not all(i.filename.endswith(".npy") for i in infos):
        msg = f"the file holds arrays {sorted(names)}, the manifest lists {sorted(expected)}"
        raise ValueError(msg)
    for name, info in zip(names, infos, strict=True):
        if info.compress_type != zipfile.ZIP_STORED:
            msg = f"array {name!r} is compressed; ir3de writes plain (stored) arrays only"
            raise ValueError(msg)
        spec = expected[name]
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, _fortran, dtype = np.lib.format.read_array_header_1_0(member)
            else:
                shape, _fortran, dtype = np.lib.format.read_array_header_2_0(member)
            header = member.tell()
        want = {"shape": list(spec.get("shape", [])), "dtype": spec.get("dtype")}
        if {"shape": list(shape), "dtype": dtype.str} != want or dtype.hasobject:
            got = {"shape": list(shape), "dtype": dtype.str}
            msg = f"array {name!r} is {got}, the manifest says {want}"
            raise ValueError(msg)
        if info.file_size != header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
            msg = f"array {name!r} has {info.file_size} bytes, not what its header says"
            raise ValueError(msg)
    return dict(zip(names, infos, strict=True))


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    with archive.open(info) as member:
        return np.asarray(np.lib.format.read_array(member, allow_pickle=False))
