"""Checks of featurizer settings, at construction (a setting may come from a saved router file)."""

from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = ["MAX_FEATURES", "count", "positive"]

MAX_FEATURES = 65536
"""Widest feature space. A fit's memory is checked against the machine before it allocates
(`ir3de_core.fit.budget`): statistics of fewer rows than features are kept as a min(n, d) × d
factor, so a wide space costs memory only with many prompts (a dense d×d is 34 GB here)."""


def count(name: str, value: Any, *, low: int = 1, high: int | None = None) -> int:
    """An integer in [low, high] (numpy integers welcome), or a ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        msg = f"{name} must be an integer, got {value!r}"
        raise ValueError(msg)
    number = int(value)
    if number < low or (high is not None and number > high):
        bound = f"between {low} and {high}" if high is not None else f"≥ {low}"
        msg = f"{name} must be {bound}, got {number}"
        raise ValueError(msg)
    return number


def positive(name: str, value: Any) -> float:
    """A finite number > 0, or a ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        msg = f"{name} must be a number, got {value!r}"
        raise ValueError(msg)
    number = float(value)
    if not (math.isfinite(number) and number > 0):
        msg = f"{name} must be a finite number > 0, got {value!r}"
        raise ValueError(msg)
    return number
