"""Exploration as a policy rule: LinUCB or Thompson sampling on a ridge router's own uncertainty.

The greedy rule picks ``argmax q − λ·c``. An exploring policy instead draws the expert from a
distribution over the available experts, and every decision carries that distribution (its
*propensities*), so logged traffic can be evaluated off-policy:

* ``linucb``: the expert maximising ``q + strength · √h − λ·c`` (`uncertainty`), chosen with
  probability `share`, the greedy expert otherwise: exact propensities;
* ``thompson``: with probability `share`, the argmax of scores drawn from
  ``N(q, strength² h)`` (each expert's posterior, independent); the probability that each expert
  wins the draw is exact for two experts (a normal CDF) and a seeded Monte Carlo estimate for
  more; the expert is then drawn from those probabilities, so the logged propensity is the one
  the expert was drawn with.

A logging-probability *floor* f mixes the rule with the uniform distribution over the available
experts, ``share · [(1 − f) · rule + f · uniform]``: every available expert of an explorable
row then has probability at least ``share · f / k_available``, so a log covers any candidate
router (off-policy estimates need μ > 0 wherever the candidate chooses; the rules alone give 0
to experts they never pick). No expert outside the available ones is ever drawn, and a
deviation from greedy happens with probability at most `share` for every prompt, floor or not. Rows the caller marks not explorable (forced,
sticky, a default below the threshold) keep the greedy expert with propensity 1.
"""

from __future__ import annotations

import threading
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr

__all__ = [
    "MONTE_CARLO_DRAWS",
    "ExplorationStream",
    "Explore",
    "exploration_probabilities",
    "sample_experts",
]

Explore = Literal["linucb", "thompson"]
MONTE_CARLO_DRAWS = 2000
"""Draws per prompt of the Monte Carlo estimate of Thompson propensities (3+ experts)."""
_WIDE = 1e6  # the spread of an expert without data, for Thompson draws


class ExplorationStream:
    """A policy's random stream: one seeded generator shared by threads (under a lock).

    Args:
        seed: the seed (None: fresh entropy, decisions not reproducible).
    """

    def __init__(self, seed: int | None) -> None:
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()

    def draw(self, job: Any) -> Any:
        """Run ``job(generator)`` holding the lock (the draws of one batch stay together)."""
        with self._lock:
            return job(self._rng)

    def __getstate__(self) -> dict[str, Any]:
        return {"seed": self.seed, "rng": self._rng}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.seed, self._rng = state["seed"], state["rng"]
        self._lock = threading.Lock()


def exploration_probabilities(
    value: NDArray[np.float64],
    spread: NDArray[np.float64],
    greedy: NDArray[np.intp],
    explorable: NDArray[np.bool_],
    *,
    method: Explore,
    strength: float,
    share: float,
    rng: np.random.Generator,
    floor: float = 0.0,
) -> NDArray[np.float64]:
    """Each prompt's probability of each expert under the exploring rule.

    Args:
        value: array of shape (n, k), ``q − λ·c``; ``-inf`` marks an unavailable expert.
        spread: array of shape (n, k), √h of each prediction (`uncertainty.prediction_spread`).
        greedy: array of shape (n,), the greedy column of each prompt.
        explorable: array of shape (n,), False where the greedy expert must answer.
        method: ``"linucb"`` or ``"thompson"``.
        strength: LinUCB's bonus multiplier, or the Thompson posterior's scale (≥ 0).
        share: the largest probability of deviating from greedy, in [0, 1].
        rng: the generator of Monte Carlo draws.
        floor: the part of the exploring share spread uniformly over the available experts,
            in [0, 1] (0: the rule alone).

    Returns:
        array of shape (n, k), rows summing to 1, zero outside the available experts, at
        least ``share · floor / k_available`` on the available ones of explorable rows.
    """
    n, k = value.shape
    rows = np.arange(n)
    greedy_p = np.zeros((n, k))
    greedy_p[rows, greedy] = 1.0
    available = np.isfinite(value)
    if method == "linucb":
        lift = strength * spread if strength > 0 else np.zeros_like(spread)  # 0 · ∞ is not 0
        bonus = np.where(available, value + lift, -np.inf)
        ucb = np.zeros((n, k))
        ucb[rows, _argmax(bonus)] = 1.0
        rule = ucb
    else:
        rule = _thompson(value, np.where(np.isfinite(spread), spread, _WIDE) * strength, rng)
    if floor > 0:
        uniform = available / available.sum(axis=1, keepdims=True)
        rule = (1.0 - floor) * rule + floor * uniform
    mixed = (1.0 - share) * greedy_p + share * rule
    out = np.where(explorable[:, None], mixed, greedy_p)
    return out / out.sum(axis=1, keepdims=True)


def sample_experts(
    probabilities: NDArray[np.float64], rng: np.random.Generator
) -> NDArray[np.intp]:
    """One column per row drawn from `probabilities` (n, k): array of shape (n,)."""
    cumulative = np.cumsum(probabilities, axis=1)
    u = rng.random(probabilities.shape[0]) * cumulative[:, -1]
    index = (cumulative <= u[:, None]).sum(axis=1)
    index = np.minimum(index, probabilities.shape[1] - 1)
    # never land on a zero-probability column through round-off at the top
    bad = probabilities[np.arange(len(index)), index] <= 0
    if bad.any():
        index[bad] = probabilities[bad].argmax(axis=1)
    return np.asarray(index, dtype=np.intp)


def _argmax(values: NDArray[np.float64]) -> NDArray[np.intp]:
    """Row argmax where +inf (an expert without data) wins, first one on ties."""
    return np.asarray(values.argmax(axis=1), dtype=np.intp)


def _thompson(
    mean: NDArray[np.float64], scale: NDArray[np.float64], rng: np.random.Generator
) -> NDArray[np.float64]:
    """Probability that each expert's draw from ``N(mean, scale²)`` is the largest: (n, k)."""
    n, k = mean.shape
    available = np.isfinite(mean)
    out = np.zeros((n, k))
    counts = available.sum(axis=1)
    for i in range(n):
        columns = np.flatnonzero(available[i])
        m, s = mean[i, columns], scale[i, columns]
        if counts[i] == 1:
            out[i, columns] = 1.0
        elif not (s > 0).any():
            out[i, columns[int(m.argmax())]] = 1.0
        elif counts[i] == 2:
            p = float(ndtr((m[0] - m[1]) / np.hypot(s[0], s[1])))
            out[i, columns] = (p, 1.0 - p)
        else:
            draws = m + s * rng.standard_normal((MONTE_CARLO_DRAWS, len(columns)))
            wins = np.bincount(draws.argmax(axis=1), minlength=len(columns))
            out[i, columns] = wins / MONTE_CARLO_DRAWS
    return out
