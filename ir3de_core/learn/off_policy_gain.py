"""The estimated gain of a candidate policy over the logging policy, with paired intervals.

The logging policy's value is observed (``mean(r)``); the candidate's is estimated off-policy
(`ir3de_core.learn.off_policy`). Their difference is bootstrapped *paired*: each resample of prompts
gives both values, so the interval of the gain is not the sum of two intervals' widths. A
candidate beats the logging policy beyond its interval when the gain's lower bound is above 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ir3de_core.learn.off_policy import Estimate, OffPolicyReport, off_policy_report

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
    level: float = 0.95,
    bootstrap: int = 1000,
    seed: int = 0,
) -> GainReport:
    """The candidate's value and its gain over the logging policy.

    Args:
        rewards, chosen, propensities, target, reward_model: as in `off_policy_report`
            (shapes (n,), (n,), (n,), (n, k), (n, k)).
        logging_spread: array of shape (n, k), μ(b|x) of every expert (None: unknown).
        level, bootstrap, seed: the intervals' level, resamples and seed.
    """
    values = off_policy_report(
        rewards, chosen, propensities, target, reward_model,
        level=level, bootstrap=bootstrap, seed=seed,
    )  # fmt: skip
    r = np.asarray(rewards, dtype=np.float64)
    a = np.asarray(chosen, dtype=np.intp)
    pi = np.asarray(target, dtype=np.float64)
    rows = np.arange(r.size)
    w = pi[rows, a] / np.asarray(propensities, dtype=np.float64)
    model = np.zeros_like(pi) if reward_model is None else np.asarray(reward_model, float)
    dr_terms = (pi * model).sum(axis=1) + w * (r - model[rows, a])
    resample = np.random.default_rng(seed + 1).integers(0, r.size, size=(bootstrap, r.size))
    q = ((1 - level) / 2 * 100, (1 + level) / 2 * 100)
    logged = r[resample].mean(axis=1)
    sums = w[resample].sum(axis=1)
    snips = (w * r)[resample].sum(axis=1) / np.where(sums > 0, sums, np.nan)
    dr = dr_terms[resample].mean(axis=1)
    unsupported = None
    if logging_spread is not None:
        mu = np.asarray(logging_spread, dtype=np.float64)
        unsupported = float((pi * (mu <= 0)).sum(axis=1).mean())
    return GainReport(
        values,
        _interval(values.snips.value - values.logging.value, snips - logged, q),
        _interval(values.dr.value - values.logging.value, dr - logged, q),
        unsupported,
    )


def _interval(point: float, draws: np.ndarray, q: tuple[float, float]) -> Estimate:
    draws = draws[np.isfinite(draws)]
    if draws.size == 0 or not math.isfinite(point):
        return Estimate(float(point), math.nan, math.nan)
    low, high = np.percentile(draws, q)
    return Estimate(float(point), float(low), float(high))
