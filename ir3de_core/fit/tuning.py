"""Choosing α, the token aggregation and a safe-default threshold by k-fold cross-validation.

Everything comes from per-fold statistics: the prompts are featurized once, each fold keeps its
own sums, and the fit without fold f is the total minus fold f — so each candidate α costs k
solves (one eigendecomposition per fold serves the whole grid) and no featurizing. Candidates
are scored by what routing achieves on the held-out prompts, not by squared error:

* quality mode: the mean observed score of the chosen expert (with costs: the AIQ of the
  held-out λ curve, the area under quality − λ·cost routing's cost–quality hull);
* domain mode: the mean observed score of the chosen domain's expert when scores are known,
  else the share of prompts routed to their own domain.

The grid holds "no prompt signal" too (every prompt to the best single expert), so on the folds
a tuned router is never worse than the best single expert; routing must beat it by more than one
standard error of the paired per-prompt gain (the one-standard-error rule), so that noise alone
does not make a router route. Among routing candidates, ties go to the most regularised one (in
quality mode, the largest α whose held-out squared error is within 1 % of the lowest).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ir3de_core.decide.policy import RoutingPolicy
from ir3de_core.featurizers import is_token_featurizer
from ir3de_core.ridge.statistics import SufficientStatistics
from ir3de_core.settings import Aggregation, RouterSettings

__all__ = ["TuningResult", "aggregations", "alpha_grid", "representation"]

GRID_EXPONENTS = np.arange(-4.0, 1.01, 0.5)
"""α = (mean eigenvalue of the scatter) × 10^e for these e: scale-free, from a penalty of a
ten-thousandth of the data's own spread to ten times it."""


def representation(aggregation: str) -> str:
    """``"tokens"`` (a row per token) for vote/average, ``"rows"`` (a row per prompt) else."""
    return "tokens" if aggregation in ("vote", "average") else "rows"


def aggregations(settings: RouterSettings, featurizer: Any) -> list[Aggregation]:
    """The aggregations a fit tries: the setting, or every one that makes sense."""
    if not is_token_featurizer(featurizer):
        return ["pooled"]
    if settings.aggregation != "auto":
        return [settings.aggregation]
    if settings.target == "quality":  # vote shares are not predicted qualities
        return ["average", "pooled"]
    return ["vote", "average", "pooled"]


def alpha_grid(statistics: SufficientStatistics, settings: RouterSettings) -> list[float]:
    """The α candidates: the setting, or a log grid scaled to the statistics' spread."""
    if settings.alpha != "auto":
        return [float(settings.alpha)]
    d = statistics.n_features
    if statistics.design == "shared":
        scale = statistics.pooled()[2].trace() / d
    else:  # the mean over the experts with data of the trace of their scatter
        used = statistics.block[statistics.block >= 0]
        traces = np.array([b.scatter.trace() for b in statistics.blocks])
        scale = float(traces[used].mean()) / d if used.size else 1.0
    scale = scale if math.isfinite(scale) and scale > 0 else 1.0
    return [float(scale * 10.0**e) for e in GRID_EXPONENTS]


@dataclass(frozen=True)
class TuningResult:
    """What cross-validation chose, and how every candidate scored (like ``RidgeCV``).

    Attributes:
        alpha: the chosen α (``inf``: no prompt signal).
        aggregation: the chosen aggregation.
        threshold: the chosen safe-default confidence threshold, or None.
        criterion: what candidates were scored by.
        folds: number of folds.
        n_held_out: held-out prompts scored.
        candidates: ``[{"aggregation", "alpha", "score", "error"}]`` in grid order.
        thresholds: ``[{"threshold", "score"}]`` tried for the chosen candidate.
        standard_error: standard error of the best routing candidate's held-out gain over no
            signal (per-prompt criteria): routing is chosen only when the gain exceeds it.
        fold_gains: the best routing candidate's mean held-out gain over no signal in each fold
            (per-prompt criteria), the spread that a per-fold standard error is taken from.
        temperature: the softmax temperature fitted on the held-out outcomes (None: not fitted).
        novelty_threshold: the novelty above which prompts go to the safe default, or None
            (`ir3de_core.fit.novelty_threshold`); novelty_thresholds: ``[{"threshold", "gain"}]``.
        featurizers: with ``featurizer="auto"``, ``[{"featurizer", "score", "alpha",
            "standard_error"}]`` of every installed featurizer tried, in order
            (`ir3de_core.fit.featurizer_choice`).
    """

    alpha: float
    aggregation: Aggregation
    threshold: float | None
    criterion: str
    folds: int
    n_held_out: int
    candidates: list[dict[str, Any]] = field(default_factory=list)
    thresholds: list[dict[str, Any]] = field(default_factory=list)
    standard_error: float | None = None
    fold_gains: list[float] = field(default_factory=list)
    temperature: float | None = None
    novelty_threshold: float | None = None
    novelty_thresholds: list[dict[str, Any]] = field(default_factory=list)
    featurizers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def no_signal(self) -> bool:
        """Whether cross-validation chose not to route on the prompt at all."""
        return self.alpha == math.inf

    def to_json(self) -> dict[str, Any]:
        """JSON-compatible values (infinities as the string "inf")."""
        return _json_safe(asdict(self))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TuningResult:
        """Inverse of `to_json`, validated."""
        values = _from_safe(dict(data))
        if not isinstance(values.get("candidates"), list):
            msg = "tuning results need a list of candidates"
            raise ValueError(msg)
        return cls(**values)


FALLBACK_ALPHA = 1.0
"""α when there are too few prompts per group to cross-validate (e.g. a router built from one
description per expert): the value the adapters were measured with."""


def untuned(settings: RouterSettings, featurizer: Any, fewest: int) -> TuningResult:
    """The settings of a fit too small to cross-validate: `FALLBACK_ALPHA`, the average of the
    token scores (graded scores for every expert), no safe-default threshold."""
    ways = aggregations(settings, featurizer)
    aggregation = "average" if "average" in ways else ways[0]
    alpha = FALLBACK_ALPHA if settings.alpha == "auto" else float(settings.alpha)
    reason = (
        f"not cross-validated: a group has {fewest} prompt(s), fewer than the {settings.cv} folds"
    )
    return TuningResult(alpha, aggregation, None, reason, settings.cv, 0)


def tuned_policy(policy: RoutingPolicy, result: TuningResult, domain_mode: bool) -> RoutingPolicy:
    """The user's policy with what tuning chose: a safe-default threshold (unless the policy
    has its own), or, when no signal won in domain mode, every prompt to the default."""
    if policy.novelty_threshold is None and result.novelty_threshold is not None:
        policy = policy.replace(novelty_threshold=result.novelty_threshold)
    if policy.threshold is not None:
        return policy
    if result.no_signal and domain_mode:
        return policy.replace(threshold=math.inf, threshold_on="confidence")
    if result.threshold is not None:
        return policy.replace(threshold=result.threshold, threshold_on="confidence")
    return policy


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _from_safe(value: Any) -> Any:
    if value in ("inf", "-inf"):
        return float(value)
    if isinstance(value, dict):
        return {k: _from_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_safe(v) for v in value]
    return value
