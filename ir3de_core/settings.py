"""`RouterSettings`: an `IR3DERouter`'s settings checked once, at the boundary, as one value.

Every path that needs the settings (a fit, a saved router, a checkpoint, a Dask worker) reads this
value and its JSON form, so a setting is validated and serialised in exactly one place.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import numpy as np

from ir3de_core.statistics import Design

__all__ = ["Aggregation", "InterceptMode", "MissingScores", "RouterSettings", "Target"]

Target = Literal["domain", "quality"]
Aggregation = Literal["vote", "average", "pooled"]
InterceptMode = Literal["centered", "penalized", "none"]
MissingScores = Literal["raise", "ignore"]

_CHOICES: dict[str, tuple[Any, ...]] = {
    "target": ("domain", "quality"),
    "aggregation": ("vote", "average", "pooled"),
    "intercept": ("centered", "penalized", "none"),
    "missing_scores": ("raise", "ignore"),
    "normalize": (True, False, "auto"),
    "balance": (True, False),
}


@dataclass(frozen=True)
class RouterSettings:
    """The settings of a router, validated (see `IR3DERouter` for what each one means).

    Numbers may be Python or numpy scalars; NaN, infinities and out-of-range values are refused
    with a message naming the setting and the allowed values.
    """

    target: Target = "domain"
    aggregation: Aggregation = "vote"
    entropy_top_k: int | None = None
    alpha: float = 1.0
    intercept: InterceptMode = "centered"
    normalize: bool | Literal["auto"] = "auto"
    balance: bool = True
    expert_map: dict[str, str] | None = None
    missing_scores: MissingScores = "raise"
    confidence_temperature: float = 0.1

    def __post_init__(self) -> None:
        for name, allowed in _CHOICES.items():
            value = getattr(self, name)
            value = value.item() if isinstance(value, np.generic) else value
            if not any(type(value) is type(a) and value == a for a in allowed):
                msg = f"{name}={value!r} is not one of {allowed}"
                raise ValueError(msg)
            object.__setattr__(self, name, value)
        object.__setattr__(self, "alpha", _number("alpha", self.alpha, low=0.0, strict=False))
        temperature = _number("confidence_temperature", self.confidence_temperature, low=0.0)
        object.__setattr__(self, "confidence_temperature", temperature)
        object.__setattr__(self, "entropy_top_k", _top_k(self.entropy_top_k))
        object.__setattr__(self, "expert_map", _expert_map(self.expert_map))

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> RouterSettings:
        """Settings from a router's ``get_params()`` (the ``featurizer`` entry is ignored)."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - names - {"featurizer", "policy"})
        if unknown:
            msg = f"unknown router setting(s) {unknown}; known: {sorted(names)}"
            raise ValueError(msg)
        return cls(**{k: v for k, v in params.items() if k in names})

    def to_json(self) -> dict[str, Any]:
        """The settings as JSON-compatible values (``from_params`` reads them back)."""
        return asdict(self)

    @property
    def design(self) -> Design:
        """``shared`` (one design for all domains) in domain mode, else ``per_group``."""
        return "shared" if self.target == "domain" else "per_group"

    @property
    def normalizes(self) -> bool:
        """Whether weight columns are scaled to unit norm (``"auto"``: in domain mode)."""
        return self.target == "domain" if self.normalize == "auto" else bool(self.normalize)


def _number(name: str, value: Any, *, low: float, strict: bool = True) -> float:
    """A finite real number above `low` (or at least `low` when not `strict`), as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        msg = f"{name} must be a number, got {value!r}"
        raise ValueError(msg)
    number = float(value)
    if not math.isfinite(number) or number < low or (strict and number == low):
        bound = f"> {low:g}" if strict else f"≥ {low:g}"
        msg = f"{name} must be a finite number {bound}, got {value!r}"
        raise ValueError(msg)
    return number


def _top_k(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        msg = f"entropy_top_k must be an integer ≥ 1 or None, got {value!r}"
        raise ValueError(msg)
    return int(value)


def _expert_map(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        msg = f"expert_map must be a mapping domain → expert, got {type(value).__name__}"
        raise ValueError(msg)
    bad = [k for k, v in value.items() if not (isinstance(k, str) and isinstance(v, str) and v)]
    if bad:
        msg = f"expert_map must map domain names to non-empty expert names; bad entries: {bad}"
        raise ValueError(msg)
    return dict(value)
