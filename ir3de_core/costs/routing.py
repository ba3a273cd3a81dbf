"""`CostAwareRouter`: any quality predictor plus prices, routed by quality − λ·cost."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ir3de_core.costs.policies import (
    OperatingPoint,
    calibrate_budget,
    calibrate_threshold,
    choose_with_default,
    prompt_costs,
)

__all__ = ["CostAwareRouter", "QualityModel"]


class QualityModel(Protocol):
    """What the policies need: predicted quality per expert, and the experts' names."""

    @property
    def experts_(self) -> tuple[str, ...]:
        """Expert names, in column order."""
        ...

    def decision_function(self, X: Sequence[str]) -> NDArray[np.float64]:
        """Predicted quality: array of shape (n_prompts, n_experts)."""
        ...


class CostAwareRouter:
    """Route each prompt to ``argmax quality − λ·cost``, optionally deferring to a default expert.

    Args:
        model: e.g. ``IR3DERouter(target="quality")``, `UniRouteRouter` or a kNN baseline.
        prices: expert → price per 1,000 tokens, for per-query costs from the prompt's length
            (when costs are not given per query).
        lam: λ, the price of one unit of cost in units of quality (set by `calibrate`).
        threshold: below this predicted quality of the chosen expert, use `default`.
        default: the default expert's name.
    """

    def __init__(
        self,
        model: QualityModel,
        *,
        prices: Mapping[str, float] | None = None,
        lam: float = 0.0,
        threshold: float | None = None,
        default: str | None = None,
    ) -> None:
        self.model = model
        self.prices = prices
        self.lam = lam
        self.threshold = threshold
        self.default = default

    def costs(self, prompts: Sequence[str], costs: ArrayLike | None = None) -> NDArray[np.float64]:
        """Per-query costs: `costs` (shape (n, k)) when given, else from the prices."""
        if costs is not None:
            return np.asarray(costs, dtype=np.float64)
        if self.prices is None:
            msg = "no costs: pass costs per query, or prices per expert to the router"
            raise ValueError(msg)
        return prompt_costs(prompts, self.prices, self.model.experts_)

    def route(self, prompts: Sequence[str], costs: ArrayLike | None = None) -> list[str]:
        """The chosen expert of each prompt."""
        quality = self.model.decision_function(prompts)
        c = self.costs(prompts, costs)
        threshold = -np.inf if self.threshold is None else self.threshold
        picked = choose_with_default(quality, threshold, self._default_index(), c, self.lam)
        return [self.model.experts_[j] for j in picked]

    def calibrate(
        self,
        prompts: Sequence[str],
        *,
        budget: float,
        costs: ArrayLike | None = None,
        scores: ArrayLike | None = None,
    ) -> OperatingPoint:
        """Set λ (and the threshold, with a default expert and scores) on the user's own data so
        that the average cost per query stays within `budget`."""
        quality = self.model.decision_function(prompts)
        c = self.costs(prompts, costs)
        point = calibrate_budget(quality, c, budget, scores=scores, experts=self.model.experts_)
        self.lam = point.lam
        if self.default is not None and scores is not None:
            point = calibrate_threshold(
                quality, c, scores, self._default_index(), budget=budget, lam=self.lam,
                experts=self.model.experts_,
            )  # fmt: skip
            self.threshold = point.threshold
        return point

    def get_params(self) -> dict[str, Any]:
        """The policy's settings."""
        return {"lam": self.lam, "threshold": self.threshold, "default": self.default}

    def _default_index(self) -> int:
        if self.default is None:
            return 0
        if self.default not in self.model.experts_:
            msg = f"default expert {self.default!r} is not one of {list(self.model.experts_)}"
            raise ValueError(msg)
        return self.model.experts_.index(self.default)
