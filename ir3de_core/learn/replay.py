"""Replay: logged prompts with every expert's score, served one by one under bandit feedback.

Each prompt is routed, only the chosen expert's score is revealed and folded into the router
(`IR3DERouter.partial_fit`: rank-one steps in quality mode on row features), and the reward and
regret (the best expert's score minus the chosen one's) are recorded. `choose_strength` picks an
exploring policy's strength by such a replay on training data.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ir3de_core.decide.policy import RoutingPolicy

__all__ = ["Decide", "ReplayResult", "choose_strength", "replay"]

Decide = Callable[[Any, str], tuple[str, float] | tuple[str, float, Mapping[str, float]]]
"""``decide(router, prompt) -> (expert, propensity[, spread])``: how a replay routes one prompt
(`spread`: every expert's probability of being chosen, for off-policy checks of overlap)."""


@dataclass(frozen=True, eq=False)
class ReplayResult:
    """What a replay earned, step by step.

    Attributes:
        experts: the k experts, in column order.
        chosen: array of shape (n,), the chosen column of each step.
        propensities: array of shape (n,), the probability the chosen expert was chosen with.
        rewards: array of shape (n,), the chosen expert's score.
        best: array of shape (n,), the best expert's score (the oracle's reward).
        spread: array of shape (n, k), every expert's probability of being chosen at each
            step (the logging policy's μ(b|x): `off_policy_report`'s ``logging_spread``),
            None when `decide` did not give it.
    """

    experts: tuple[str, ...]
    chosen: NDArray[np.intp]
    propensities: NDArray[np.float64]
    rewards: NDArray[np.float64]
    best: NDArray[np.float64]
    spread: NDArray[np.float64] | None = None

    @property
    def mean_reward(self) -> float:
        """Mean reward per step."""
        return float(self.rewards.mean())

    @property
    def regret(self) -> float:
        """Cumulative regret: Σ (best − reward)."""
        return float((self.best - self.rewards).sum())


def _route(router: Any, prompt: str) -> tuple[str, float, Mapping[str, float]]:
    decision = router.route([prompt])[0]
    return decision.expert, decision.propensity, decision.propensities or {decision.expert: 1.0}


def replay(
    router: Any,
    prompts: Sequence[str],
    scores: ArrayLike,
    *,
    decide: Decide | None = None,
    learn: bool = True,
) -> ReplayResult:
    """Serve `prompts` in order with bandit feedback, updating `router` in place.

    Args:
        router: a fitted quality-mode `IR3DERouter` (its policy decides, and explores if set).
        prompts: n prompts.
        scores: array of shape (n, k), every expert's score, columns in ``router.experts_``
            order; only the chosen one is revealed.
        decide: how to route a prompt (default: ``router.route``).
        learn: fold each revealed score into the router.
    """
    experts = tuple(router.experts_)
    matrix = np.asarray(scores, dtype=np.float64)
    if matrix.shape != (len(prompts), len(experts)) or not np.isfinite(matrix).all():
        msg = (
            f"scores must be finite with shape ({len(prompts)}, {len(experts)}), got {matrix.shape}"
        )
        raise ValueError(msg)
    route = decide or _route
    chosen = np.empty(len(prompts), dtype=np.intp)
    propensities = np.empty(len(prompts))
    spread: np.ndarray | None = np.zeros_like(matrix)
    for i, prompt in enumerate(prompts):
        expert, propensity, *given = route(router, prompt)
        chosen[i], propensities[i] = experts.index(expert), propensity
        if given and spread is not None:  # recorded before the update: this step's policy
            spread[i] = [given[0].get(e, 0.0) for e in experts]
        else:
            spread = None
        if learn:
            router.partial_fit([prompt], [{expert: float(matrix[i, chosen[i]])}])
    rows = np.arange(len(prompts))
    best = matrix.max(axis=1)
    return ReplayResult(experts, chosen, propensities, matrix[rows, chosen], best, spread)


def choose_strength(
    router: Any,
    prompts: Sequence[str],
    scores: ArrayLike,
    *,
    explore: str,
    strengths: Sequence[float] = (0.03, 0.1, 0.3, 1.0),
    share: float = 1.0,
    seed: int = 0,
) -> tuple[float, dict[float, float]]:
    """The exploration strength whose replay on training data earns the most.

    Each candidate replays `prompts` from a copy of `router` (never changed) with the policy
    ``explore``/strength/`share`/`seed``; give training prompts only, never a test split.

    Returns:
        the chosen strength, and each candidate's mean reward.
    """
    if not strengths:
        msg = "give at least one strength to choose from"
        raise ValueError(msg)
    earned: dict[float, float] = {}
    for strength in strengths:
        candidate = copy.copy(router)
        policy: RoutingPolicy = router.policy_.replace(
            explore=explore, explore_strength=strength, explore_share=share, explore_seed=seed
        )
        candidate.set_policy(policy)
        earned[float(strength)] = replay(candidate, prompts, scores).mean_reward
    return max(earned, key=earned.__getitem__), earned
