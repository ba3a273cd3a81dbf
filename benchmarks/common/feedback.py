"""Online feedback: a replay of logged traffic as feedback events.

`IR3DERouter.partial_fit([prompt], [{expert: score}])` folds one event into the statistics and,
for quality-mode routers on row features, into the solution by a rank-one (Sherman–Morrison)
step (`ir3de_core.ridge.online.RankOneRidge`), in O(d²) per event.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["FeedbackStep", "replay_feedback"]


@dataclass(frozen=True)
class FeedbackStep:
    """The held-out metric after some feedback events.

    Attributes:
        events: feedback events folded in so far.
        metric: the value of the evaluation callback.
        seconds: mean wall time of one update so far.
    """

    events: int
    metric: float
    seconds: float


def replay_feedback(
    update: Callable[[int, int, float], None],
    route: Callable[[NDArray[np.intp]], NDArray[np.intp]],
    scores: ArrayLike,
    evaluate: Callable[[], float],
    *,
    every: int = 100,
    explore: float = 0.1,
    seed: int = 0,
) -> list[FeedbackStep]:
    """Replay logged prompts as production traffic: route, observe the routed expert's score,
    feed it back, and track a held-out metric.

    Only the chosen expert's score is revealed (bandit feedback); with probability `explore` a
    random expert is asked instead, so that every expert keeps receiving feedback.

    Args:
        update: ``update(prompt_index, expert_column, observed_score)``, e.g. a call to
            ``router.partial_fit([prompt], [{expert: score}])``.
        route: the expert column the router chooses for the prompts at the given indices,
            (m,) → (m,), e.g. ``ir3de_core.decide.calibration.choose(quality, costs, lam)``: the best
            predicted quality, or quality − λ·cost for a cost-aware policy.
        scores: array of shape (n, k), the logged scores (the "production" outcomes).
        evaluate: the held-out metric of the current router (higher is better).
        every: evaluate after this many events.
        explore: probability of asking a random expert.
        seed: random seed of the order of events and of exploration.
    """
    s = np.asarray(scores, dtype=np.float64)
    rng = np.random.default_rng(seed)
    order = rng.permutation(s.shape[0])
    steps = [FeedbackStep(0, evaluate(), 0.0)]
    elapsed = 0.0
    for t, i in enumerate(order, start=1):
        column = int(route(np.array([i]))[0])
        if rng.random() < explore:
            column = int(rng.integers(s.shape[1]))
        if np.isnan(s[i, column]):
            continue
        start = time.perf_counter()
        update(int(i), column, float(s[i, column]))
        elapsed += time.perf_counter() - start
        if t % every == 0 or t == order.size:
            steps.append(FeedbackStep(t, evaluate(), elapsed / t))
    return steps
