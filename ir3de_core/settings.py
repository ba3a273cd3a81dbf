"""Checking an `IR3DERouter`'s settings at the boundary (fit, load), with messages naming the fix."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["validate_settings"]

_CHOICES = {
    "target": ("domain", "quality"),
    "aggregation": ("vote", "average", "pooled"),
    "intercept": ("centered", "penalized", "none"),
    "missing_scores": ("raise", "ignore"),
}


def validate_settings(settings: Mapping[str, Any]) -> None:
    """Raise ValueError naming the first invalid setting of a router's `get_params()`."""
    for name, allowed in _CHOICES.items():
        if settings[name] not in allowed:
            msg = f"{name}={settings[name]!r} is not one of {allowed}"
            raise ValueError(msg)
    alpha = settings["alpha"]
    if isinstance(alpha, bool) or not (isinstance(alpha, int | float) and alpha >= 0):
        msg = f"alpha must be a number ≥ 0, got {alpha!r}"
        raise ValueError(msg)
    top_k = settings["entropy_top_k"]
    if top_k is not None and top_k < 1:
        msg = f"entropy_top_k must be ≥ 1 or None, got {top_k}"
        raise ValueError(msg)
    if settings["confidence_temperature"] <= 0:
        msg = f"confidence_temperature must be > 0, got {settings['confidence_temperature']}"
        raise ValueError(msg)
