"""Overlap between a candidate and the logging policy: what an off-policy estimate can know.

IPS-type estimates only see the experts the logging policy could choose. The candidate's mass
on the others (the *unsupported* mass m, mean over prompts of ``Σ_b π(b|x) [μ(b|x) = 0]``)
never shows in the log: IPS then estimates only the supported part of the value, and a
bootstrap interval over prompts states it with a confidence it does not have. Two checks:

* with every expert's logging probability (``logging_spread``, shape (n, k)) m is exact, the
  logged propensities must equal the spread at the chosen columns (else the log is
  misaligned), and the unsupported part is bounded by ``[m · r_min, m · r_max]``;
* with only the chosen expert's propensity, the mean weight ``mean(π(a|x) / μ(a|x))`` estimates
  ``1 − m`` (it is 1 when the candidate's support is covered and the propensities are right):
  an interval below 1 reveals unsupported mass, one above 1 propensities too small
  (misaligned or wrong).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["MIN_EFFECTIVE_N", "Overlap", "support_of"]

FloatArray = NDArray[np.float64]
MIN_EFFECTIVE_N = 30.0
"""Below this effective sample size an interval rests on too few prompts to be trusted."""
_MATCH = 1e-6  # logged propensity vs the spread's entry at the chosen column


@dataclass(frozen=True)
class Overlap:
    """How much of the candidate the log covers.

    Attributes:
        weight_mean: mean importance weight and its interval (≈ 1 with full overlap).
        weight_low, weight_high: that interval's bounds.
        unsupported: the candidate's mean mass on experts the log cannot show: exact with the
            logging spread, else ``1 − weight_low`` (its upper bound at the level) when the
            weight interval lies below 1 (0 otherwise).
        exact: whether `unsupported` comes from the logging spread.
        effective_n: ``(Σw)² / Σw²``.
    """

    weight_mean: float
    weight_low: float
    weight_high: float
    unsupported: float
    exact: bool
    effective_n: float

    @property
    def consistent(self) -> bool:
        """False when the weights are too large on average: propensities wrong or misaligned."""
        return not self.weight_low > 1.0

    @property
    def reliable(self) -> bool:
        """Whether an interval can be read as stated: support covered, enough prompts."""
        return self.unsupported <= 0.01 and self.consistent and self.effective_n >= MIN_EFFECTIVE_N

    def warning(self) -> str | None:
        """What is wrong with the log for this candidate, or None."""
        problems = []
        if self.unsupported > 0.01:
            how = "" if self.exact else " (estimated from the mean weight)"
            problems.append(
                f"{self.unsupported:.0%} of the candidate's choices are experts the logging "
                f"policy never chose{how}: intervals widened by what that part could earn"
            )
        if not self.consistent:
            problems.append(
                f"the mean importance weight is {self.weight_mean:.2f} (interval "
                f"{self.weight_low:.2f}–{self.weight_high:.2f}), above 1: the logged "
                "propensities are too small for the chosen experts (misaligned log?)"
            )
        if self.effective_n < MIN_EFFECTIVE_N:
            problems.append(
                f"effective sample size {self.effective_n:.1f} < {MIN_EFFECTIVE_N:g}: the "
                "estimate rests on a handful of prompts"
            )
        return "; ".join(problems) or None


def support_of(
    spread: object, chosen: NDArray[np.intp], propensities: FloatArray, target: FloatArray
) -> tuple[FloatArray, float]:
    """The supported part of the candidate and its unsupported mass.

    Args:
        spread: array of shape (n, k), μ(b|x) of every expert.
        chosen: array of shape (n,), the logged columns.
        propensities: array of shape (n,), the logged μ(a|x).
        target: array of shape (n, k), π(b|x).

    Returns:
        π restricted to experts with μ > 0 (n, k), and the mean mass left out.

    Raises:
        ValueError: a spread of the wrong shape, or one that disagrees with the propensities.
    """
    mu = np.asarray(spread, dtype=np.float64)
    if mu.shape != target.shape or not np.isfinite(mu).all() or (mu < 0).any():
        msg = f"logging_spread must be non-negative with shape {target.shape}, got {mu.shape}"
        raise ValueError(msg)
    logged = mu[np.arange(chosen.size), chosen]
    bad = np.flatnonzero(np.abs(logged - propensities) > _MATCH)
    if bad.size:
        i = int(bad[0])
        msg = (
            f"{bad.size} logged propensities differ from the logging spread at the chosen "
            f"expert (first at row {i}: {propensities[i]:g} vs {logged[i]:g}): the log is "
            "misaligned (wrong expert, order or step)"
        )
        raise ValueError(msg)
    supported = np.where(mu > 0, target, 0.0)
    return supported, float((target - supported).sum(axis=1).mean())
