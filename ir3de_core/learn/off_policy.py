"""Off-policy evaluation: what a candidate router would have earned on traffic another policy chose.

A log holds, per prompt x, the expert a the logging policy chose, the probability μ(a|x) it
chose it with (the decision's ``propensity``) and the reward r observed for it. A candidate
policy π (its per-expert probabilities, one-hot when deterministic) is scored by

* IPS: ``mean(w · r)`` with ``w = π(a|x) / μ(a|x)`` (unbiased when μ > 0 wherever π > 0);
* SNIPS: ``Σ w·r / Σ w`` (self-normalised: a little bias, much less variance);
* doubly robust: ``mean(Σ_b π(b|x) r̂(x, b) + w · (r − r̂(x, a)))`` with a reward model r̂
  (the candidate's own predicted quality); equal to IPS when r̂ = 0;

each with a seeded percentile-bootstrap interval over prompts, next to the logging policy's
own value ``mean(r)``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ir3de_core.learn.overlap import Overlap, support_of

__all__ = [
    "Estimate",
    "LoggedFeedback",
    "OffPolicyReport",
    "candidate_probabilities",
    "off_policy_report",
    "read_logged_feedback",
]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Estimate:
    """A value and its confidence interval (`level`, percentile bootstrap)."""

    value: float
    low: float
    high: float

    def contains(self, x: float) -> bool:
        """Whether `x` lies in the interval."""
        return self.low <= x <= self.high


@dataclass(frozen=True)
class OffPolicyReport:
    """Estimates of a candidate's value on a log, and the logging policy's own value.

    Attributes:
        n: logged prompts.
        logging: the logging policy's mean reward.
        ips, snips, dr: the candidate's estimated mean reward by each estimator.
        effective_n: ``(Σw)² / Σw²``, how many prompts the estimate effectively rests on.
        level: the intervals' confidence level.
        overlap: how much of the candidate the log covers (`overlap.Overlap`).
    """

    n: int
    logging: Estimate
    ips: Estimate
    snips: Estimate
    dr: Estimate
    effective_n: float
    level: float
    overlap: Overlap

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible values."""
        out: dict[str, Any] = {"n": self.n, "effective_n": self.effective_n, "level": self.level}
        for name in ("logging", "ips", "snips", "dr"):
            e: Estimate = getattr(self, name)
            out[name] = {"value": e.value, "low": e.low, "high": e.high}
        out["overlap"] = {**asdict(self.overlap), "warning": self.overlap.warning()}
        return out


@dataclass(frozen=True)
class LoggedFeedback:
    """Logged decisions with their observed rewards.

    Attributes:
        prompts: n prompts.
        experts: the expert chosen for each prompt.
        propensities: array of shape (n,), μ(a|x) of each chosen expert, in (0, 1].
        rewards: array of shape (n,), the observed score of each chosen expert.
    """

    prompts: list[str]
    experts: list[str]
    propensities: FloatArray
    rewards: FloatArray


def off_policy_report(
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
) -> OffPolicyReport:
    """IPS, SNIPS and doubly-robust estimates of a candidate's value on a log.

    The candidate's mass m on experts the log cannot show (`overlap`) is added as an unknown
    part in ``[m · r_min, m · r_max]``: IPS and SNIPS fill it with the range's midpoint, DR
    with its reward model, and every interval spans it, so a log that does not cover the
    candidate gives a wide interval and a warning (``report.overlap``), not a narrow wrong one.

    Args:
        rewards: array of shape (n,), the observed rewards.
        chosen: array of shape (n,), the logged expert's column in `target`.
        propensities: array of shape (n,), μ(a|x) of the logged expert, in (0, 1].
        target: array of shape (n, k), π(b|x) of the candidate, rows summing to 1.
        reward_model: array of shape (n, k), r̂(x, b) for DR (None: zero, DR = IPS).
        logging_spread: array of shape (n, k), μ(b|x) of every expert (None: unknown; the
            unsupported mass is then estimated from the mean weight).
        reward_range: the rewards' bounds (None: the observed min and max).
        level: confidence level of the intervals.
        bootstrap: bootstrap resamples.
        seed: the resampling seed.

    Raises:
        ValueError: mismatched shapes, propensities outside (0, 1], NaN rewards, or a
            logging spread that disagrees with the propensities.
    """
    r, a, mu, pi = _checked(rewards, chosen, propensities, target)
    n, rows = r.size, np.arange(r.size)
    model = np.zeros_like(pi) if reward_model is None else np.asarray(reward_model, float)
    if model.shape != pi.shape or not np.isfinite(model).all():
        msg = f"reward_model must be finite with shape {pi.shape}, got {model.shape}"
        raise ValueError(msg)
    exact = logging_spread is not None
    covered, unsupported = support_of(logging_spread, a, mu, pi) if exact else (pi, 0.0)
    w = covered[rows, a] / mu
    resample = np.random.default_rng(seed).integers(0, n, size=(bootstrap, n))
    q = ((1 - level) / 2 * 100, (1 + level) / 2 * 100)
    weight = _estimate(w.mean(), w[resample].mean(axis=1), q)
    if not exact and weight.high < 1.0:  # the weights miss mass: the candidate's support
        unsupported = float(min(1.0, 1.0 - weight.low))
    overlap = Overlap(
        weight.value, weight.low, weight.high, unsupported, exact,
        float(w.sum() ** 2 / (w**2).sum()) if (w > 0).any() else 0.0,
    )  # fmt: skip
    bounds = (float(r.min()), float(r.max())) if reward_range is None else reward_range
    ips, snips = _weighted(r, w, resample, q, unsupported, bounds)
    dr_terms = (covered * model).sum(axis=1) + w * (r - model[rows, a])
    dr = _estimate(dr_terms.mean(), dr_terms[resample].mean(axis=1), q)
    if exact:  # the model fills the part the log cannot show; the interval spans its range
        fill = float(((pi - covered) * model).sum(axis=1).mean())
        dr = _spanned(dr, unsupported, bounds, dr.value + fill)
    else:  # the model's fill of an unknown part may be off by its whole range either way
        span = unsupported * (bounds[1] - bounds[0])
        dr = Estimate(dr.value, dr.low - span, dr.high + span)
    # a policy's value is a mean of rewards: no estimate or interval needs to leave their range
    # (IPS's weights can push both past it, widened or not)
    ips, snips, dr = (_clipped(e, bounds) for e in (ips, snips, dr))
    return OffPolicyReport(
        n=n, logging=_estimate(r.mean(), r[resample].mean(axis=1), q), ips=ips, snips=snips,
        dr=dr, effective_n=overlap.effective_n, level=level, overlap=overlap,
    )  # fmt: skip


def _clipped(e: Estimate, bounds: tuple[float, float]) -> Estimate:
    """`e` held to the rewards' `bounds` (NaN bounds of an empty estimate stay NaN)."""
    if math.isnan(e.low):
        return e
    low, high = max(e.low, bounds[0]), min(e.high, bounds[1])
    return Estimate(min(max(e.value, bounds[0]), bounds[1]), low, high)


def _estimate(point: float, draws: FloatArray, q: tuple[float, float]) -> Estimate:
    draws = draws[np.isfinite(draws)]
    if draws.size == 0:  # the candidate never agrees with the log: no estimate
        return Estimate(float(point), math.nan, math.nan)
    low, high = np.percentile(draws, q)
    return Estimate(float(point), float(low), float(high))


def _spanned(e: Estimate, m: float, bounds: tuple[float, float], point: float) -> Estimate:
    """`e` of the supported part plus an unknown part in ``[m · r_min, m · r_max]``."""
    return Estimate(point, e.low + m * bounds[0], e.high + m * bounds[1])


def _weighted(
    r: FloatArray,
    w: FloatArray,
    resample: NDArray[np.intp],
    q: tuple[float, float],
    m: float,
    bounds: tuple[float, float],
) -> tuple[Estimate, Estimate]:
    """IPS and SNIPS of the supported part (weights `w`), spanning the unsupported mass m."""
    mid = m * (bounds[0] + bounds[1]) / 2
    wr = w * r
    ips = _estimate(wr.mean(), wr[resample].mean(axis=1), q)
    sums = w[resample].sum(axis=1)
    draws = wr[resample].sum(axis=1) / np.where(sums > 0, sums, np.nan)
    snips = _estimate(wr.sum() / w.sum() if w.sum() > 0 else math.nan, draws, q)
    # SNIPS is the supported part's mean; it weighs (1 − m) of the value
    snips = Estimate((1 - m) * snips.value, (1 - m) * snips.low, (1 - m) * snips.high)
    return (
        _spanned(ips, m, bounds, ips.value + mid),
        _spanned(snips, m, bounds, snips.value + mid),
    )


def candidate_probabilities(
    decisions: Sequence[Any], experts: Sequence[str]
) -> tuple[FloatArray, FloatArray | None]:
    """π(b|x) of a candidate's decisions (their propensities) and its predicted quality.

    Args:
        decisions: n `RoutingDecision` of the candidate on the logged prompts.
        experts: the k experts, in column order.

    Returns:
        arrays of shape (n, k): the probabilities; the scores as a reward model (quality-mode
        decisions), else None.
    """
    pi = np.zeros((len(decisions), len(experts)))
    quality = np.zeros_like(pi)
    for i, d in enumerate(decisions):
        spread = d.propensities or {d.expert: 1.0}
        for j, e in enumerate(experts):
            pi[i, j] = spread.get(e, 0.0)
            quality[i, j] = d.scores.get(e, 0.0)
    has_quality = all(d.domain is None for d in decisions)
    return pi, quality if has_quality else None


def read_logged_feedback(path: str | Path) -> LoggedFeedback:
    """Logged decisions and rewards from a JSONL file.

    Each line is either a joined event ``{"prompt", "expert", "propensity", "reward"}``, or a
    gateway decision line (``id``, ``expert``, ``propensity``, ``prompt``: serve with
    ``log_prompts = true``) and a gateway feedback line (``id``, ``scores``) joined by ``id``.
    Decisions without feedback are left out.

    Raises:
        ValueError: a line that is not a JSON object, or lacks what the estimate needs.
    """
    joined: list[Mapping[str, Any]] = []
    decisions: dict[str, Mapping[str, Any]] = {}
    feedback: dict[str, Mapping[str, Any]] = {}
    with Path(path).open(encoding="utf-8") as f:
        for number, text in enumerate(f, 1):
            if not text.strip():
                continue
            try:
                line = json.loads(text)
            except json.JSONDecodeError as e:
                msg = f"{path}:{number}: not JSON ({e.msg}); give one JSON object per line"
                raise ValueError(msg) from e
            if not isinstance(line, dict):
                msg = f"{path}:{number}: expected a JSON object, got {type(line).__name__}"
                raise ValueError(msg)
            if "reward" in line:
                joined.append(line)
            elif "scores" in line:
                feedback[str(line.get("id"))] = line
            else:
                decisions[str(line.get("id"))] = line
    for key, decision in decisions.items():
        if key in feedback:
            scores = feedback[key]["scores"]
            expert = decision.get("expert")
            if isinstance(scores, Mapping) and expert in scores:
                joined.append({**decision, "reward": scores[expert]})
    return _logged(joined, path)


def _logged(lines: Iterable[Mapping[str, Any]], path: str | Path) -> LoggedFeedback:
    prompts, experts, mu, rewards = [], [], [], []
    for line in lines:
        missing = [k for k in ("prompt", "expert", "propensity", "reward") if k not in line]
        if missing:
            msg = (
                f"{path}: an event lacks {missing}; log decisions with their prompts "
                "([server] log_prompts = true) and propensities"
            )
            raise ValueError(msg)
        prompts.append(str(line["prompt"]))
        experts.append(str(line["expert"]))
        mu.append(float(line["propensity"]))
        rewards.append(float(line["reward"]))
    if not prompts:
        msg = f"{path}: no decision with feedback to evaluate on"
        raise ValueError(msg)
    return LoggedFeedback(prompts, experts, np.array(mu), np.array(rewards))


def _checked(
    rewards: ArrayLike, chosen: ArrayLike, propensities: ArrayLike, target: ArrayLike
) -> tuple[FloatArray, NDArray[np.intp], FloatArray, FloatArray]:
    r = np.asarray(rewards, dtype=np.float64)
    a = np.asarray(chosen, dtype=np.intp)
    mu = np.asarray(propensities, dtype=np.float64)
    pi = np.asarray(target, dtype=np.float64)
    n = r.shape[0] if r.ndim == 1 else -1
    if n < 1 or a.shape != (n,) or mu.shape != (n,) or pi.ndim != 2 or pi.shape[0] != n:
        msg = (
            "rewards, chosen and propensities must have shape (n,) and target (n, k), got "
            f"{r.shape}, {a.shape}, {mu.shape}, {pi.shape}"
        )
        raise ValueError(msg)
    if not np.isfinite(r).all():
        msg = "rewards must be finite numbers"
        raise ValueError(msg)
    if not ((mu > 0) & (mu <= 1)).all():
        msg = "propensities must be in (0, 1]: log the probability of the chosen expert"
        raise ValueError(msg)
    if ((a < 0) | (a >= pi.shape[1])).any():
        msg = f"chosen columns must be in [0, {pi.shape[1]})"
        raise ValueError(msg)
    return r, a, mu, pi
