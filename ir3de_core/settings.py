"""`RouterSettings`: an `IR3DERouter`'s settings checked once, at the boundary, as one value.

Every path that needs the settings (a fit, a saved router, a checkpoint, a Dask worker) reads this
value and its JSON form, so a setting is validated and serialised in exactly one place.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

import numpy as np

from ir3de_core.decide.confidence import DEFAULT_TEMPERATURE
from ir3de_core.ridge.statistics import Design

__all__ = ["Aggregation", "InterceptMode", "MissingScores", "RouterSettings", "Target"]

Target = Literal["domain", "quality"]
Aggregation = Literal["vote", "average", "pooled", "auto"]
InterceptMode = Literal["centered", "penalized", "none"]
MissingScores = Literal["raise", "ignore"]

_CHOICES: dict[str, tuple[Any, ...]] = {
    "target": ("domain", "quality"),
    "aggregation": ("vote", "average", "pooled", "auto"),
    "intercept": ("centered", "penalized", "none"),
    "missing_scores": ("raise", "ignore"),
    "normalize": (True, False, "auto"),
    "balance": (True, False),
    "safe_default": (True, False, "novelty"),
}


@dataclass(frozen=True)
class RouterSettings:
    """The settings of a router, validated (see `IR3DERouter` for what each one means).

    Numbers may be Python or numpy scalars; NaN, infinities and out-of-range values are refused
    with a message naming the setting and the allowed values. ``"auto"`` settings are chosen by
    cross-validation at fit time (`ir3de_core.fit.tuning`); a fitted router's state holds them
    resolved (`resolved`).
    """

    target: Target = "domain"
    aggregation: Aggregation = "auto"
    entropy_top_k: int | None = None
    alpha: float | Literal["auto"] = "auto"
    intercept: InterceptMode = "centered"
    normalize: bool | Literal["auto"] = "auto"
    balance: bool = True
    expert_map: dict[str, str] | None = None
    missing_scores: MissingScores = "raise"
    confidence_temperature: float | Literal["auto"] = "auto"
    cv: int = 5
    safe_default: bool | Literal["novelty"] = True

    def __post_init__(self) -> None:
        for name, allowed in _CHOICES.items():
            value = getattr(self, name)
            value = value.item() if isinstance(value, np.generic) else value
            if not any(type(value) is type(a) and value == a for a in allowed):
                msg = f"{name}={value!r} is not one of {allowed}"
                raise ValueError(msg)
            object.__setattr__(self, name, value)
        if self.alpha != "auto":
            alpha = _number("alpha", self.alpha, low=0.0, strict=False, infinite=True)
            object.__setattr__(self, "alpha", alpha)
        object.__setattr__(self, "cv", _folds(self.cv))
        if self.confidence_temperature != "auto":
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
    def penalty(self) -> float:
        """α as a number (a fit resolves ``"auto"`` before anything is solved)."""
        if self.alpha == "auto":
            msg = "alpha='auto' is chosen when the router is fitted; fit it first"
            raise ValueError(msg)
        return float(self.alpha)

    @property
    def temperature(self) -> float:
        """The softmax temperature of confidences (``"auto"`` not fitted: the default)."""
        if self.confidence_temperature == "auto":
            return DEFAULT_TEMPERATURE
        return float(self.confidence_temperature)

    @property
    def tunes(self) -> bool:
        """Whether a fit chooses something by cross-validation."""
        return (
            self.alpha == "auto"
            or self.aggregation == "auto"
            or self.confidence_temperature == "auto"
            or bool(self.safe_default)
        )

    def resolved(
        self, alpha: float, aggregation: Aggregation, temperature: float | None = None
    ) -> RouterSettings:
        """These settings with ``"auto"`` replaced by the values a fit chose."""
        chosen = self.confidence_temperature if temperature is None else temperature
        return replace(self, alpha=alpha, aggregation=aggregation, confidence_temperature=chosen)

    @property
    def design(self) -> Design:
        """``shared`` (one design for all domains) in domain mode, else ``per_group``."""
        return "shared" if self.target == "domain" else "per_group"

    @property
    def normalizes(self) -> bool:
        """Whether weight columns are scaled to unit norm (``"auto"``: in domain mode)."""
        return self.target == "domain" if self.normalize == "auto" else bool(self.normalize)


def _number(
    name: str, value: Any, *, low: float, strict: bool = True, infinite: bool = False
) -> float:
    """A real number above `low` (or at least `low` when not `strict`), as a float; finite
    unless `infinite` (then +inf is allowed too)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        msg = f"{name} must be a number, got {value!r}"
        raise ValueError(msg)
    number = float(value)
    finite = math.isfinite(number) or (infinite and number == math.inf)
    if not finite or number < low or (strict and number == low):
        bound = f"> {low:g}" if strict else f"≥ {low:g}"
        kind = "number" if infinite else "finite number"
        msg = f"{name} must be a {kind} {bound}, got {value!r}"
        raise ValueError(msg)
    return number


def _folds(value: Any) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or not 2 <= int(value) <= 20
    ):
        msg = f"cv must be a number of folds between 2 and 20, got {value!r}"
        raise ValueError(msg)
    return int(value)


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
