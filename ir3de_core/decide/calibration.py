"""Calibrating a `RoutingPolicy` on the user's own data: λ for a budget, a default threshold.

Every function works on arrays: ``quality`` of shape (n, k) (e.g. a quality-mode router's
``decision_function``) and ``costs`` of shape (n, k) (given per query, or from the policy's
prices). The λ path is the policy's cost–quality curve; `calibrate_budget` finds the λ whose
average cost meets a budget by bisection.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ir3de_core.decide.decision import ExpertScores
from ir3de_core.decide.policy import RoutingPolicy, best_under_cost

__all__ = [
    "OperatingPoint",
    "calibrate_budget",
    "calibrate_threshold",
    "choose",
    "lambda_grid",
    "lambda_path",
    "operating_point",
]

FloatArray = NDArray[np.float64]
IndexArray = NDArray[np.intp]


def _check(quality: ArrayLike, costs: ArrayLike | None) -> tuple[FloatArray, FloatArray]:
    q = np.asarray(quality, dtype=np.float64)
    if q.ndim != 2 or q.shape[1] == 0:
        msg = f"quality must have shape (n, k), got {q.shape}"
        raise ValueError(msg)
    c = np.zeros_like(q) if costs is None else np.asarray(costs, dtype=np.float64)
    if c.ndim == 1 and c.shape == (q.shape[1],):
        c = np.broadcast_to(c, q.shape)
    if c.shape != q.shape:
        msg = f"costs must have shape {q.shape} (or ({q.shape[1]},) per expert), got {c.shape}"
        raise ValueError(msg)
    if np.isnan(q).any() or np.isnan(c).any():
        msg = "quality and costs must not contain NaN; fill or drop missing values first"
        raise ValueError(msg)
    return q, c


def choose(quality: ArrayLike, costs: ArrayLike | None = None, lam: float = 0.0) -> IndexArray:
    """The expert maximising ``quality − lam · cost`` for each query (argmax when lam = 0).

    The λ rule of `RoutingPolicy` on plain arrays, checked (for calibration and benchmarks).

    Args:
        quality: array of shape (n, k), predicted quality (higher is better).
        costs: array of shape (n, k) or (k,), cost of each expert; needed when lam > 0.
        lam: price of one unit of cost in units of quality (λ ≥ 0).

    Returns:
        array of shape (n,), the chosen column of each query.
    """
    q, c = _check(quality, costs)
    if lam < 0:
        msg = f"lam must be ≥ 0, got {lam}"
        raise ValueError(msg)
    return best_under_cost(q, c, lam)


@dataclass(frozen=True)
class OperatingPoint:
    """One setting of a policy and what it does on a calibration set.

    Attributes:
        lam: λ (price of cost in quality units).
        threshold: confidence threshold (None when unused).
        cost: average cost per query.
        predicted_quality: average predicted quality of the chosen experts.
        quality: average observed quality of the chosen experts (None without scores).
        shares: expert → fraction of queries sent to it.
        feasible: whether the setting meets the budget it was calibrated for.
    """

    lam: float
    threshold: float | None
    cost: float
    predicted_quality: float
    quality: float | None
    shares: dict[str, float]
    feasible: bool = True

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return asdict(self)


def operating_point(
    picked: ArrayLike,
    quality: ArrayLike,
    costs: ArrayLike,
    *,
    scores: ArrayLike | None = None,
    experts: Sequence[str] | None = None,
    lam: float = 0.0,
    threshold: float | None = None,
) -> OperatingPoint:
    """Summarise the choices `picked` (shape (n,)) given quality, costs and scores (n, k)."""
    q, c = _check(quality, costs)
    idx = np.asarray(picked, dtype=np.intp)
    rows = np.arange(q.shape[0])
    names = list(experts) if experts is not None else [str(j) for j in range(q.shape[1])]
    counts = np.bincount(idx, minlength=q.shape[1]) / max(idx.size, 1)
    observed = None
    if scores is not None:
        observed = float(np.nanmean(np.asarray(scores, dtype=np.float64)[rows, idx]))
    return OperatingPoint(
        lam=float(lam), threshold=threshold, cost=float(c[rows, idx].mean()),
        predicted_quality=float(q[rows, idx].mean()), quality=observed,
        shares={n: float(s) for n, s in zip(names, counts, strict=True) if s > 0},
    )  # fmt: skip


def _average_cost(q: FloatArray, c: FloatArray, lam: float) -> float:
    return float(c[np.arange(q.shape[0]), choose(q, c, lam)].mean())


def _lambda_ceiling(q: FloatArray, c: FloatArray) -> float:
    """A λ beyond which the cheapest expert (by predicted quality ties) always wins."""
    spread = float(q.max() - q.min()) or 1.0
    gaps = np.diff(np.sort(c, axis=1), axis=1)
    smallest = float(gaps[gaps > 0].min()) if (gaps > 0).any() else 1.0
    return 2.0 * spread / smallest


def calibrate_budget(
    quality: ArrayLike,
    costs: ArrayLike,
    budget: float,
    *,
    scores: ArrayLike | None = None,
    experts: Sequence[str] | None = None,
    iterations: int = 100,
) -> OperatingPoint:
    """The smallest λ whose average cost per query on a calibration set is ≤ `budget`.

    The average cost of ``argmax(quality − λ·cost)`` never increases with λ, so bisection (on
    log λ) finds the boundary. With a budget below the cheapest choice the result is the
    cheapest routing, marked ``feasible=False`` (with a warning).

    Args:
        quality: array of shape (n, k), predicted quality on the calibration prompts.
        costs: array of shape (n, k), their costs.
        budget: the largest acceptable average cost per query.
        scores: array of shape (n, k), observed quality, to report realised quality.
        experts: the k expert names (for the shares).
        iterations: bisection steps.
    """
    q, c = _check(quality, costs)
    point = {"scores": scores, "experts": experts}
    if _average_cost(q, c, 0.0) <= budget:
        return operating_point(choose(q), q, c, lam=0.0, **point)  # type: ignore[arg-type]
    high = _lambda_ceiling(q, c)
    if _average_cost(q, c, high) > budget:
        cheapest = operating_point(choose(q, c, high), q, c, lam=high, **point)  # type: ignore[arg-type]
        warnings.warn(
            f"budget {budget:.4g} is below the cheapest routing ({cheapest.cost:.4g}) "
            "on the calibration set; using the cheapest routing",
            RuntimeWarning,
            stacklevel=2,
        )
        return OperatingPoint(**{**cheapest.to_dict(), "feasible": False})
    low = high * 1e-12
    for _ in range(iterations):
        mid = math.sqrt(low * high)
        if _average_cost(q, c, mid) <= budget:
            high = mid
        else:
            low = mid
        if high / low < 1 + 1e-9:
            break
    return operating_point(choose(q, c, high), q, c, lam=high, **point)  # type: ignore[arg-type]


def lambda_grid(quality: ArrayLike, costs: ArrayLike, n_points: int = 41) -> list[float]:
    """λ = 0 and λs where choices change: quantiles of the per-query break-even prices
    ``(q_a − q_b) / (c_a − c_b)`` between a better, dearer expert a and a cheaper one b, plus
    the λ beyond which the cheapest experts always win. Adapts to any cost scale."""
    q, c = _check(quality, costs)
    rows = np.linspace(0, q.shape[0] - 1, min(q.shape[0], 2000)).astype(np.intp)
    dq = q[rows, :, None] - q[rows, None, :]
    dc = c[rows, :, None] - c[rows, None, :]
    useful = (dq > 0) & (dc > 0)
    breaks = np.sort(dq[useful] / dc[useful])
    inner: list[float] = []
    if breaks.size:
        inner = np.quantile(breaks, np.linspace(0, 1, max(n_points - 2, 1))).tolist()
    return [0.0, *sorted(set(inner)), _lambda_ceiling(q, c)]


def lambda_path(
    quality: ArrayLike,
    costs: ArrayLike,
    *,
    scores: ArrayLike | None = None,
    experts: Sequence[str] | None = None,
    n_points: int = 41,
) -> list[OperatingPoint]:
    """Operating points over `lambda_grid`: the cost–quality curve of the λ policy."""
    q, c = _check(quality, costs)
    return [
        operating_point(choose(q, c, lam), q, c, scores=scores, experts=experts, lam=lam)
        for lam in lambda_grid(q, c, n_points)
    ]


def calibrate_threshold(
    quality: ArrayLike,
    costs: ArrayLike,
    scores: ArrayLike,
    default: str,
    experts: Sequence[str],
    *,
    budget: float | None = None,
    lam: float = 0.0,
) -> OperatingPoint:
    """The quality threshold (see `RoutingPolicy`) with the best observed quality within `budget`.

    Prompts whose chosen expert's predicted quality is below the threshold go to `default`.
    Candidate thresholds are the predicted qualities of the calibration set's chosen experts
    (every distinct routing), plus −inf (never default) and +inf (always default); each one is
    applied by the `RoutingPolicy` that will route with it.

    Args:
        quality: array of shape (n, k), predicted quality.
        costs: array of shape (n, k).
        scores: array of shape (n, k), observed quality (the calibration labels).
        default: the default expert's name.
        experts: the k expert names.
        budget: largest average cost per query (None: no limit).
        lam: λ used for the non-default choice.
    """
    q, c = _check(quality, costs)
    s = np.asarray(scores, dtype=np.float64)
    names = tuple(experts)
    if default not in names:
        msg = f"default expert {default!r} is not one of {list(names)}"
        raise ValueError(msg)
    table = ExpertScores(names, q, np.full_like(q, 1.0 / q.shape[1]), q, c)
    candidates = np.unique(q[np.arange(q.shape[0]), choose(q, c, lam)])
    best: OperatingPoint | None = None
    for threshold in [-np.inf, *candidates.tolist(), np.inf]:
        policy = RoutingPolicy(
            lam=lam, threshold=threshold, threshold_on="quality", default=default
        )
        point = operating_point(
            policy.choose(table).index, q, c, scores=s, experts=names, lam=lam,
            threshold=float(threshold),
        )  # fmt: skip
        if budget is not None and point.cost > budget:
            continue
        if best is None or (point.quality or 0.0) > (best.quality or 0.0):
            best = point
    if best is None:
        msg = f"no threshold keeps the average cost within the budget {budget:.4g}"
        raise ValueError(msg)
    return best
