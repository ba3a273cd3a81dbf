"""The checks and small array helpers of `RoutingPolicy` (availability masks, validated values),
and `Choices`, its decisions for a batch as arrays."""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from ir3de_core.decide.decision import ExpertScores

__all__ = [
    "Choices",
    "availability",
    "choice",
    "column",
    "expert_names",
    "fraction",
    "number",
    "one_hot",
    "renormalised",
    "row_dict",
    "threshold_value",
]

ThresholdOn = Literal["confidence", "quality"]


def availability(experts: tuple[str, ...], available: Collection[str] | None) -> NDArray[np.bool_]:
    if available is None:
        return np.ones(len(experts), dtype=bool)
    mask = np.array([e in available for e in experts], dtype=bool)
    if not mask.any():
        msg = f"none of the router's experts {list(experts)} is available (given {list(available)})"
        raise ValueError(msg)
    return mask


def renormalised(
    probabilities: NDArray[np.float64], mask: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """Probabilities over the available experts only: shape (n, k), zero where unavailable."""
    if mask.all():
        return probabilities
    kept = np.where(mask, probabilities, 0.0)
    total = kept.sum(axis=1, keepdims=True)
    uniform = np.broadcast_to(mask / mask.sum(), kept.shape)
    return np.where(total > 0, kept / np.where(total > 0, total, 1.0), uniform)


def column(experts: tuple[str, ...], name: str, what: str) -> int:
    if name not in experts:
        msg = f"{what} {name!r} is not one of the router's experts {list(experts)}"
        raise ValueError(msg)
    return experts.index(name)


def expert_names(table: ExpertScores, mask: NDArray[np.bool_]) -> list[str]:
    return [e for e, ok in zip(table.experts, mask.tolist(), strict=True) if ok]


def row_dict(experts: tuple[str, ...], values: NDArray[np.float64]) -> dict[str, float]:
    return dict(zip(experts, values.tolist(), strict=True))


def choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        msg = f"{name}={value!r} is not one of {allowed}"
        raise ValueError(msg)


def threshold_value(value: Any, on: ThresholdOn) -> float | None:
    """A threshold: a probability for ``confidence``; any number (or +inf: always the
    default) for ``quality``; -inf (never the default) is no threshold at all."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        msg = f"threshold must be a number or None, got {value!r}"
        raise ValueError(msg)
    threshold = float(value)
    if on == "confidence" and not (0.0 <= threshold <= 1.0 or threshold == math.inf):
        msg = f"a confidence threshold is a probability in [0, 1] (or inf: always), got {value!r}"
        raise ValueError(msg)
    return None if threshold == -math.inf else threshold


def number(name: str, value: Any, *, low: float = 0.0) -> float:
    """A finite number ≥ `low` (or any finite number when `low` is -inf)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        msg = f"{name} must be a number, got {value!r}"
        raise ValueError(msg)
    number = float(value)
    if not math.isfinite(number) or number < low:
        msg = f"{name} must be a finite number ≥ {low:g}, got {value!r}"
        raise ValueError(msg)
    return number


def fraction(name: str, value: Any, fix: str) -> float:
    """A number in [0, 1]; else a ValueError naming `fix`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= float(value) <= 1:
        msg = f"{name} must be a number in [0, 1] ({fix}), got {value!r}"
        raise ValueError(msg)
    return float(value)


def one_hot(index: NDArray[np.intp], k: int) -> NDArray[np.float64]:
    """Rows of the k × k identity picked by `index` (n,): array of shape (n, k), built without
    the identity (which at 10,000 experts alone is 800 MB)."""
    out = np.zeros((index.size, k))
    out[np.arange(index.size), index] = 1.0
    return out


@dataclass(frozen=True, eq=False)
class Choices:
    """A policy's choices for a batch, as arrays (the fast path of `predict`).

    Attributes:
        index: array of shape (n,), the chosen expert's column.
        rule: array of shape (n,), index into `RoutingPolicy.RULES` of the rule that chose it.
        confidence: array of shape (n,), the chosen expert's probability among those available.
        n_experts: k.
        explored: array of shape (n, k), an exploring policy's probabilities of choosing each
            expert (`decide.explore`); None when the policy did not explore.
    """

    index: NDArray[np.intp]
    rule: NDArray[np.intp]
    confidence: NDArray[np.float64]
    n_experts: int
    explored: NDArray[np.float64] | None = None

    @property
    def propensities(self) -> NDArray[np.float64]:
        """The probability the policy chose each expert: array of shape (n, k), one-hot
        unless it explores (built when asked for: cross-validation reads only `index`, and at
        10,000 experts the one-hot rows are 80 KB per prompt)."""
        if self.explored is not None:
            return self.explored
        return one_hot(self.index, self.n_experts)
