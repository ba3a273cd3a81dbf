"""Cost–quality metrics: RouterBench's AIQ and quality hull, RouteLLM's APGR and CPT."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "aiq",
    "apgr",
    "cost_to_reach",
    "cpt",
    "hull_quality_at",
    "pgr_curve",
    "quality_hull",
]

FloatArray = NDArray[np.float64]


def quality_hull(costs: ArrayLike, qualities: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """The non-decreasing convex hull of (cost, quality) points (RouterBench).

    Mixing two operating points at random reaches every point of the segment between them, and
    nobody pays more for less quality, so a router's achievable curve is the upper concave hull of
    its Pareto-efficient points.

    Args:
        costs: array of shape (m,).
        qualities: array of shape (m,).

    Returns:
        (hull costs, hull qualities), arrays of shape (h,), costs increasing, qualities
        non-decreasing and concave in cost.
    """
    c, q = _points(costs, qualities)
    order = np.lexsort((-q, c))  # by cost, best quality first among equal costs
    frontier: list[tuple[float, float]] = []
    for ci, qi in zip(c[order], q[order], strict=True):
        if frontier and qi <= frontier[-1][1]:
            continue  # costs more (or the same) for no more quality
        frontier.append((float(ci), float(qi)))
    hull: list[tuple[float, float]] = []
    for point in frontier:
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], point) >= 0:
            hull.pop()
        hull.append(point)
    return np.array([p[0] for p in hull]), np.array([p[1] for p in hull])


def _cross(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]) -> float:
    """> 0 when b lies below the segment a–c (so b is not on the upper hull)."""
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def _points(costs: ArrayLike, qualities: ArrayLike) -> tuple[FloatArray, FloatArray]:
    c = np.asarray(costs, dtype=np.float64).ravel()
    q = np.asarray(qualities, dtype=np.float64).ravel()
    if c.shape != q.shape or c.size == 0:
        msg = f"need as many costs as qualities (≥ 1), got {c.size} and {q.size}"
        raise ValueError(msg)
    if not (np.isfinite(c).all() and np.isfinite(q).all()):
        msg = "costs and qualities must be finite; drop points with missing values first"
        raise ValueError(msg)
    return c, q


def hull_quality_at(costs: ArrayLike, qualities: ArrayLike, at: ArrayLike) -> FloatArray:
    """The hull's quality at the costs `at` (shape (m,)); 0 below its cheapest point."""
    hc, hq = quality_hull(costs, qualities)
    x = np.asarray(at, dtype=np.float64)
    out = np.interp(x, hc, hq)  # constant beyond the last point: more money buys nothing more
    return np.where(x < hc[0], 0.0, out)


def aiq(
    costs: ArrayLike,
    qualities: ArrayLike,
    *,
    cost_range: tuple[float, float] | None = None,
) -> float:
    """Average Improvement in Quality: area under the hull divided by the cost range.

    Args:
        costs: array of shape (m,), each operating point's average cost per query.
        qualities: array of shape (m,), its average quality.
        cost_range: (c_min, c_max) to integrate over; compare routers on one common range (e.g.
            the cheapest and the dearest single model). Default: the points' own range. Below the
            router's cheapest point the quality counts as 0; above its dearest, as its best.

    Returns:
        AIQ, in the units of `qualities`.
    """
    c, q = _points(costs, qualities)
    low, high = cost_range if cost_range is not None else (float(c.min()), float(c.max()))
    if high < low:
        msg = f"cost_range must be (low, high) with low ≤ high, got {cost_range}"
        raise ValueError(msg)
    if high == low:
        return float(hull_quality_at(c, q, [low])[0])
    hc, _ = quality_hull(c, q)
    grid = np.unique(np.concatenate([[low, high], hc[(hc > low) & (hc < high)]]))
    values = hull_quality_at(c, q, grid)
    if low < hc[0] <= high:  # the step from 0 to the first point's quality
        area = _trapezoid(values[grid >= hc[0]], grid[grid >= hc[0]])
    else:
        area = _trapezoid(values, grid)
    return float(area / (high - low))


def _trapezoid(y: FloatArray, x: FloatArray) -> float:
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2) if x.size > 1 else 0.0


def cost_to_reach(costs: ArrayLike, qualities: ArrayLike, target: float) -> float | None:
    """The lowest cost at which the hull reaches quality `target`; None when it never does."""
    hc, hq = quality_hull(costs, qualities)
    if hq[-1] < target:
        return None
    if hq[0] >= target:
        return float(hc[0])
    i = int(np.searchsorted(hq, target))  # hq[i - 1] < target ≤ hq[i]
    share = (target - hq[i - 1]) / (hq[i] - hq[i - 1])
    return float(hc[i - 1] + share * (hc[i] - hc[i - 1]))


def pgr_curve(
    strong_preference: ArrayLike,
    strong_scores: ArrayLike,
    weak_scores: ArrayLike,
    *,
    steps: int = 101,
) -> tuple[FloatArray, FloatArray]:
    """RouteLLM's performance gap recovered as a function of the share of calls to the strong model.

    The prompts most preferred for the strong model go to it first (ties broken by order).

    Args:
        strong_preference: array of shape (n,), how much the router prefers the strong model.
        strong_scores: array of shape (n,), the strong model's observed quality.
        weak_scores: array of shape (n,), the weak model's observed quality.
        steps: number of shares in [0, 1].

    Returns:
        (shares, PGR) of shape (steps,); PGR = (q − q_weak) / (q_strong − q_weak).
    """
    s = np.asarray(strong_preference, dtype=np.float64)
    strong = np.asarray(strong_scores, dtype=np.float64)
    weak = np.asarray(weak_scores, dtype=np.float64)
    n = s.size
    if strong.shape != (n,) or weak.shape != (n,) or n == 0:
        msg = "strong_preference, strong_scores and weak_scores must have the same shape (n,)"
        raise ValueError(msg)
    gap = strong.mean() - weak.mean()
    if gap <= 0:
        msg = f"the strong model is not better than the weak one here (gap {gap:.4g})"
        raise ValueError(msg)
    order = np.argsort(-s, kind="stable")
    gains = np.concatenate([[0.0], np.cumsum((strong - weak)[order])]) / n  # by number of calls
    shares = np.linspace(0.0, 1.0, steps)
    quality = weak.mean() + np.interp(shares * n, np.arange(n + 1), gains)
    return shares, (quality - weak.mean()) / gap


def apgr(strong_preference: ArrayLike, strong_scores: ArrayLike, weak_scores: ArrayLike) -> float:
    """Average PGR over the share of strong calls from 0 to 1 (area under the PGR curve)."""
    shares, pgr = pgr_curve(strong_preference, strong_scores, weak_scores, steps=1001)
    return _trapezoid(pgr, shares)


def cpt(
    strong_preference: ArrayLike,
    strong_scores: ArrayLike,
    weak_scores: ArrayLike,
    level: float,
) -> float:
    """Call-performance threshold: the smallest share of strong calls reaching PGR ≥ `level`.

    Args:
        level: the PGR to reach, e.g. 0.5 for CPT(50%) or 0.8 for CPT(80%).

    Returns:
        the share in [0, 1] (linear between whole numbers of calls).
    """
    shares, pgr = pgr_curve(strong_preference, strong_scores, weak_scores, steps=10001)
    reached = np.flatnonzero(pgr >= level - 1e-12)
    return float(shares[reached[0]]) if reached.size else 1.0
