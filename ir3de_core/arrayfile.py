"""Plain-array files with a manifest: SHA-256, shapes and dtypes checked, never unpickled.

Shared by saved routers (`persistence`) and fit checkpoints (`checkpoint`).
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["array_specs", "read_checked_npz", "sha256"]


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
    if sha256(path) != checksum:
        msg = f"{path} does not match its checksum: it was modified or truncated; {fix}"
        raise error(msg)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        msg = f"{path} cannot be read as plain arrays ({e}); {fix}"
        raise error(msg) from e
    if set(arrays) != set(expected):
        msg = f"{path} holds arrays {sorted(arrays)}, the manifest lists {sorted(expected)}"
        raise error(msg)
    for name, spec in array_specs(arrays).items():
        if spec != {"shape": expected[name]["shape"], "dtype": expected[name]["dtype"]}:
            msg = f"array {name!r} of {path} is {spec}, the manifest says {dict(expected[name])}"
            raise error(msg)
    return arrays
