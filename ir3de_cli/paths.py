"""Cheap checks of the command line's paths, run before any long work, and error messages.

An output that cannot be written is reported before a fit that may take hours, not after it.
"""

from __future__ import annotations

import os
from pathlib import Path

from ir3de_core.exceptions import IR3DEError

__all__ = ["UsageError", "check_input_file", "check_output_dir", "check_output_file", "describe"]


class UsageError(IR3DEError, ValueError):
    """A command-line option names a path that cannot be used; the message names the option."""


def check_output_dir(value: str | None, option: str) -> None:
    """`value` must be a directory, or not exist yet under a writable directory."""
    if value is None:
        return
    path = Path(value)
    if path.exists() and not path.is_dir():
        msg = f"{option} {path} is a file; give a directory (new or existing) to save in"
        raise UsageError(msg)
    _check_writable(path if path.exists() else _existing_ancestor(path, option), option, path)


def check_output_file(value: str | None, option: str) -> None:
    """`value` must be a file that can be written: not a directory, in an existing directory."""
    if value is None:
        return
    path = Path(value)
    if path.is_dir():
        msg = f"{option} {path} is a directory; give the path of a file to write"
        raise UsageError(msg)
    parent = path.parent
    if not parent.is_dir():
        msg = f"{option} {path}: directory {parent} does not exist; create it first"
        raise UsageError(msg)
    _check_writable(path if path.exists() else parent, option, path)


def check_input_file(value: str | None, option: str) -> None:
    """`value` (``-`` is stdin) must be an existing file."""
    if value is None or value == "-":
        return
    path = Path(value)
    if path.is_dir():
        msg = f"{option} {path} is a directory; give a file"
        raise UsageError(msg)
    if not path.exists():
        msg = f"{option} {path} does not exist"
        raise UsageError(msg)


def describe(error: BaseException) -> str:
    """One line for `error`: an OS error as ``path: reason``, anything else its message."""
    if isinstance(error, OSError) and error.strerror and error.filename is not None:
        where = f"{error.filename} → {error.filename2}" if error.filename2 else error.filename
        return f"{where}: {error.strerror}"
    text = str(error) or type(error).__name__
    return " ".join(text.split()) if "\n" in text else text


def _existing_ancestor(path: Path, option: str) -> Path:
    """The nearest ancestor of `path` that exists (a directory will be created under it)."""
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                msg = f"{option} {path} cannot be created: {parent} is a file, not a directory"
                raise UsageError(msg)
            return parent
    return Path(path.absolute().anchor)


def _check_writable(path: Path, option: str, target: Path) -> None:
    if not os.access(path, os.W_OK):
        msg = f"{option} {target}: {path} is not writable"
        raise UsageError(msg)
