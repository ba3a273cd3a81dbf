"""`Shadow`: a candidate router that decides on every routed request but is never called.

For each routed request the candidate routes the same text among the same experts; its choice
and π(a|x), its probability of the expert the live router actually chose, are logged next to
the live decision. When feedback comes for that completion, the event (live expert a, its
propensity μ(a|x), the reward r, the candidate's probabilities and predicted quality) is kept,
and `report` estimates the candidate's value and its gain over the live router off-policy
(SNIPS and doubly robust, paired bootstrap intervals: `ir3de_core.learn.off_policy_gain`).

The candidate is frozen: it does not learn from feedback (its estimate is of the router that
would be promoted). Requests that fell back to another expert, forced requests and domain-mode
feedback are left out of the estimate.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from ir3de_core.decide.decision import RoutingDecision
from ir3de_core.decide.policy import RoutingPolicy
from ir3de_core.learn.off_policy_gain import GainReport, gain_report
from ir3de_core.router import IR3DERouter
from ir3de_serve.config import ShadowConfig
from ir3de_serve.memory import ExpiringMap

__all__ = ["Shadow", "ShadowEvent"]

_SLOW_FEATURIZERS = frozenset({"sentence", "openai"})


@dataclass(frozen=True)
class ShadowEvent:
    """One routed request as the estimate needs it (k experts in the gateway's order).

    Attributes:
        chosen: the live expert's column. propensity: μ(chosen|x) of the live policy.
        live: array of shape (k,), μ(b|x) of every expert under the live policy.
        target: array of shape (k,), π(b|x) of the candidate. quality: array of shape (k,),
            the candidate's predicted quality (DR's reward model). reward: the observed score.
    """

    chosen: int
    propensity: float
    live: np.ndarray
    target: np.ndarray
    quality: np.ndarray
    reward: float = float("nan")


class Shadow:
    """The candidate, its decisions awaiting feedback, and the events with feedback.

    Args:
        candidate: the candidate router (checked by the caller: it routes, same experts).
        policy: the policy it would be in force with (`GatewayConfig.resolve_policy`).
        name: the candidate's version name (None: timestamp+hash when it is kept).
        kept: whether it is a kept version already (else it is kept when promoted).
        experts: the gateway's experts, in column order.
        config: ``[shadow]``. window, max_pending: how long and how many decisions await
            feedback (``[feedback]``'s).
    """

    def __init__(
        self,
        candidate: IR3DERouter,
        policy: RoutingPolicy,
        *,
        name: str | None,
        kept: bool = False,
        experts: list[str],
        config: ShadowConfig,
        window: float,
        max_pending: int,
    ) -> None:
        self.candidate, self.policy, self.name, self.kept = candidate, policy, name, kept
        self.experts, self.config = experts, config
        self._pending: ExpiringMap[str, ShadowEvent] = ExpiringMap(max_pending, window)
        self._events: deque[ShadowEvent] = deque(maxlen=config.max_events)
        self._lock = threading.Lock()
        self.decided = 0
        self.checked_at = 0

    async def observe(
        self, completion_id: str, text: str, live: RoutingDecision, available: list[str] | None
    ) -> dict[str, Any]:
        """Let the candidate decide on `text` (never called); the fields for the decision log."""
        route = functools.partial(
            self.candidate.route, [text], policy=self.policy, available=available
        )
        slow = self.candidate.featurizer_.kind in _SLOW_FEATURIZERS
        decision = (await asyncio.to_thread(route) if slow else route())[0]
        target = self._row(decision.propensities or {decision.expert: 1.0})
        chosen = self.experts.index(live.expert)
        self.decided += 1
        if not live.fallback_from:
            event = ShadowEvent(
                chosen,
                float(live.propensity),
                self._row(live.propensities or {live.expert: 1.0}),
                target,
                self._row(decision.scores) if decision.domain is None else np.zeros_like(target),
            )
            self._pending.set(completion_id, event)
        return {
            "shadow_expert": decision.expert,
            "shadow_propensity": float(target[chosen]),
            "shadow_version": self.name,
        }

    def reward(self, completion_id: str, score: Any) -> bool:
        """Keep the event of `completion_id` with its observed `score` (False: not shadowed,
        or a domain label)."""
        event = self._pending.pop(completion_id)
        if event is None or isinstance(score, bool) or not isinstance(score, int | float):
            return False
        with self._lock:
            self._events.append(
                ShadowEvent(
                    event.chosen, event.propensity, event.live, event.target, event.quality,
                    float(score),
                )
            )  # fmt: skip
        return True

    @property
    def n_events(self) -> int:
        """Events with feedback so far."""
        return len(self._events)

    def due(self) -> bool:
        """Whether auto-promotion should look at the estimate now."""
        n = self.n_events
        return (
            self.config.auto_promote
            and n >= self.config.min_events
            and n - self.checked_at >= self.config.check_every
        )

    def estimate(self) -> GainReport | None:
        """The candidate's value and gain over the live router (None: no event yet)."""
        with self._lock:
            events = list(self._events)
        if not events:
            return None
        return gain_report(
            np.array([e.reward for e in events]),
            np.array([e.chosen for e in events]),
            np.array([e.propensity for e in events]),
            np.stack([e.target for e in events]),
            np.stack([e.quality for e in events]),
            logging_spread=np.stack([e.live for e in events]),
            level=self.config.level,
            bootstrap=self.config.bootstrap,
            seed=self.config.seed,
        )

    def report(self, gain: GainReport | None) -> dict[str, Any]:
        """What ``GET /admin/shadow`` answers, with `gain` (`estimate`'s)."""
        return {
            "candidate": self.name,
            "decided": self.decided,
            "events": self.n_events,
            "min_events": self.config.min_events,
            "auto_promote": self.config.auto_promote,
            "estimate": None if gain is None else gain.to_dict(),
        }

    def _row(self, values: dict[str, float]) -> np.ndarray:
        return np.array([float(values.get(e, 0.0)) for e in self.experts])
