"""The one guard for optional dependencies: import a module or name the extra that provides it."""

from __future__ import annotations

import importlib
from typing import Any

from ir3de_core.exceptions import MissingDependencyError

__all__ = ["require"]


def require(module: str, extra: str) -> Any:
    """Import `module`, or raise `MissingDependencyError` (an ImportError) naming the fix.

    Args:
        module: the dotted module name, e.g. ``"sentence_transformers"``.
        extra: the ``ir3de`` extra that installs it, e.g. ``"st"``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        msg = f"{module!r} is not installed; install it with: pip install 'ir3de[{extra}]'"
        raise MissingDependencyError(msg) from e
