"""Exceptions raised by ir3de, each naming the problem and the fix."""

from __future__ import annotations

from sklearn.exceptions import NotFittedError

__all__ = [
    "DataError",
    "ExpertError",
    "FitMemoryError",
    "IR3DEError",
    "MissingDependencyError",
    "ModelFileError",
    "NotFittedError",
]


class IR3DEError(Exception):
    """Base class of ir3de's own errors."""


class DataError(IR3DEError, ValueError):
    """Routing data is unreadable or malformed; the message names the file, the line (or row,
    or item) and the field, and what to do."""


class ModelFileError(IR3DEError, ValueError):
    """A saved router is missing, truncated, tampered with or of an unknown format version."""


class ExpertError(IR3DEError, KeyError):
    """An expert name is unknown, duplicated or otherwise invalid."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly.
        return str(self.args[0]) if self.args else ""


class MissingDependencyError(IR3DEError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class FitMemoryError(IR3DEError, MemoryError):
    """A fit would need more memory than the machine has; the message names the sizes and the
    settings that shrink them (see `ir3de_core.fit.budget`)."""
