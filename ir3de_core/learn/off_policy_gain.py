"""The estimated gain of a candidate policy over the logging policy, with paired intervals.

The logging policy's value is observed (``mean(r)``); the candidate's is estimated off-policy
(`ir3de_core.learn.off_policy`). Their difference is bootstrapped *paired*: each resample of prompts
gives both values, so the interval of the gain is not the sum of two intervals' widths. Like the
values, the gain's intervals span the part of the candidate the log cannot see (`overlap`). A
candidate beats the logging policy beyond its interval when the gain's lower bound is above 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ir3de_core.learn.off_policy import Estimate, OffPolicyReport, off_policy_report
from ir3de_core.learn.overlap import support_of

__all__ = ["GainReport", "gain_report"]


@dataclass(frozen=True)
class GainReport:
    """A candidate's estimated value and its gain over the logging policy.

    Attributes:
        values: the candidate's IPS / SNIPS / DR estimates and the logging policy's value.
        snips_gain, dr_gain: candidate − logging by SNIPS and by DR, paired bootstrap intervals.
        unsupported: the candidate's probability mass on experts the logging policy could not
            have chosen (μ = 0), averaged over prompts (None: the logging spread is unknown);
            above 0 the estimates rest on the reward model there (DR) or ignore it (SNIPS).
    """

    values: OffPolicyReport
    snips_gain: Estimate
    dr_gain: Estimate
    unsupported: float | None

    def beats_logging(self) -> bool:
        """Both gains' lower bounds are above 0."""
        return self.snips_gain.low > 0 and self.dr_gain.low > 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible values (NaN as None)."""

        def clean(e: Estimate) -> dict[str, float | None]:
            return {k: (None if math.isnan(v) else v) for k, v in vars(e).items()}

        out = self.values.to_dict()
        for name in ("logging", "ips", "snips", "dr"):
            out[name] = clean(getattr(self.values, name))
        out["gain"] = {"snips": clean(self.snips_gain), "dr": clean(self.dr_gain)}
        out["unsupported"] = self.unsupported
        out["beats_logging"] = self.beats_logging()
        return out


def gain_report(
    rewards: ArrayLike,
    chosen: ArrayLike,
    propensities: ArrayLike,
    target: ArrayLike,
    reward_model: ArrayLike | None = None,
    *,
    logging_spread: ArrayLike | None = None,
    reward_range: tuple[float, float] | None = None,
    level: float = 0.95,
    bootstrap: int = 1000,
    seed: int = 0,
) -> GainReport:
    """The candidate's value and its gain over the logging policy.

    The gain's intervals span what the log cannot see, as the values' do (`off_policy_report`):
    the candidate's mass m on experts the logger could not choose adds an unknown part in
    ``[m · r_min, m · r_max]`` (exact m with `logging_spread`; else bounded from the mean
    weight, and DR's model fill may be off by ``m · (r_max − r_min)`` either way), so a gain
    that only looks positive through that part is not beyond its interval.

    Args:
        rewards, chosen, propensities, target, reward_model: as in `off_policy_report`
            (shapes (n,), (n,), (n,), (n, k), (n, k)).
        logging_spread: array of shape (n, k), μ(b|x) of every expert (None: unknown).
        reward_range: the rewards' bounds (None: the observed min and max).
        level, bootstrap, seed: the intervals' level, resamples and seed.
    """
    values = off_policy_report(
        rewards, chosen, propensities, target, reward_model, logging_spread=logging_spread,
        reward_range=reward_range, level=level, bootstrap=bootstrap, seed=seed,
    )  # fmt: skip
    r = np.asarray(rewards, dtype=np.float64)
    a = np.asarray(chosen, dtype=np.intp)
    mu = np.asarray(propensities, dtype=np.float64)
    pi = np.asarray(target, dtype=np.float64)
    exact = logging_spread is not None
    covered = support_of(logging_spread, a, mu, pi)[0] if exact else pi
    m = values.overlap.unsupported
    rows = np.arange(r.size)
    w = covered[rows, a] / mu
    model = np.zeros_like(pi) if reward_model is None else np.asarray(reward_model, float)
    dr_terms = (covered * model).sum(axis=1) + w * (r - model[rows, a])
    resample = np.random.default_rng(seed + 1).integers(0, r.size, size=(bootstrap, r.size))
    q = ((1 - level) / 2 * 100, (1 + level) / 2 * 100)
    logged = r[resample].mean(axis=1)
    sums = w[resample].sum(axis=1)
    snips = (1 - m) * (w * r)[resample].sum(axis=1) / np.where(sums > 0, sums, np.nan)
    dr = dr_terms[resample].mean(axis=1)
    lo, hi = (float(r.min()), float(r.max())) if reward_range is None else reward_range
    unseen = (m * lo, m * hi)  # the unsupported part's value, unknown within these bounds
    span = unseen if exact else (m * (lo - hi), m * (hi - lo))  # DR: its fill may be off
    return GainReport(
        values,
        _interval(values.snips.value - values.logging.value, snips - logged, q, unseen),
        _interval(values.dr.value - values.logging.value, dr - logged, q, span),
        m if exact else None,
    )


def _interval(
    point: float, draws: np.ndarray, q: tuple[float, float], span: tuple[float, float]
) -> Estimate:
    """The percentile interval of the supported part's `draws`, plus the unseen part's `span`."""
    draws = draws[np.isfinite(draws)]
    if draws.size == 0 or not math.isfinite(point):
        return Estimate(float(point), math.nan, math.nan)
    low, high = np.percentile(draws, q)
    return Estimate(float(point), float(low + span[0]), float(high + span[1]))
