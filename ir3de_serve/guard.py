"""What one feedback key may do: scores in the target's range, a rate, a bounded weight and a
bounded influence.

The bounds (docs/security.md): each key's events on one group (an expert in quality mode, a
domain in domain mode) weigh together at most ``key_share`` × the rows that group had when the
gateway started; where the router's feedback is a ridge fold with leverage (quality mode, and
domain mode without balance or normalisation: `ir3de_serve.influence.leverage_supported`) each
event's influence ``w·h(x)`` (its weight times its leverage) is at most the influence of a
weight-1 row of novelty ``event_novelty``, and a key's events carry together at most
``key_influence`` (default ``key_share × (1 + df)``) on each system: an expert's, or the one
system every domain of a domain router shares. An event that reaches a budget is folded with what is left, then
the key is refused (429). The influence is computed once, when the event is accepted, from the
router in force; with a shared log it is stored with the event and every replica charges it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ir3de_core.router import IR3DERouter
from ir3de_serve.config import FeedbackConfig
from ir3de_serve.errors import GatewayError
from ir3de_serve.influence import GroupLeverage

__all__ = ["Charge", "FeedbackGuard", "score_range"]

_EMPTY = 1e-12


@dataclass(frozen=True)
class Charge:
    """What one accepted event costs its key on one group.

    Attributes:
        weight: the weight it is folded with, in (0, 1].
        influence: ``weight × h(x)``, its leverage in the router in force when it was accepted
            (0: the router's feedback has no leverage bound, e.g. token rows).
    """

    weight: float
    influence: float


def score_range(router: IR3DERouter, configured: tuple[float, float] | None) -> tuple[float, float]:
    """The scores accepted: `configured`, else the smallest and largest target seen in training."""
    if configured is not None:
        return configured
    seen = router.statistics_.target_range().values()
    if not seen:
        return (-math.inf, math.inf)
    return min(lo for lo, _ in seen), max(hi for _, hi in seen)


class FeedbackGuard:
    """Per-key rate limits (a token bucket), weight and influence budgets per group.

    Args:
        config: ``[feedback]`` (``key_share``, ``event_novelty``, ``key_influence``,
            ``key_rate_per_minute``).
        rows: each group's rows (weight) when the gateway started.
        leverage: each group's leverage model when the gateway started (groups without one
            have a weight budget only).
        clock: the time source (monotonic seconds).
    """

    def __init__(
        self,
        config: FeedbackConfig,
        rows: Mapping[str, float],
        leverage: Mapping[str, GroupLeverage | None] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.share = config.key_share
        self.rate = config.key_rate_per_minute / 60.0
        self.burst = max(1.0, config.key_rate_per_minute / 6.0)  # ten seconds' worth
        self.rows = dict(rows)
        models = {g: m for g, m in (leverage or {}).items() if m is not None}
        self.event_cap = {g: m.influence_cap(config.event_novelty) for g, m in models.items()}
        self.influence_budget = {
            g: config.key_influence if config.key_influence is not None else self.share * (1 + m.df)
            for g, m in models.items()
        }
        self._models = models
        self._system = {g: m.system for g, m in models.items()}
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._used: dict[tuple[str, str], float] = {}
        self._influence: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def leverage(self, group: str, row: NDArray[np.float64]) -> float | None:
        """``h(x)`` of one feature row (d,) in `group`'s system of the router the gateway
        started with (None: no leverage model for the group, or rows of another width). Every replica started from the
        same router charges an event the same, whichever events it has folded when the event
        arrives; and since folding rows only lowers leverage, this h bounds the router in
        force's from above, so the stated guarantee holds (docs/security.md)."""
        model = self._models.get(group)
        x = np.asarray(row, dtype=np.float64)
        if model is None or x.shape != model.mean.shape:  # e.g. a reloaded router's features
            return None
        return float(model.leverage(x[None, :])[0])

    def admit(self, client: str) -> None:
        """Take one event from `client`'s bucket, or raise a 429."""
        with self._lock:
            now = self._clock()
            tokens, then = self._buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.rate)
            if tokens < 1.0:
                self._buckets[client] = (tokens, now)
                wait = (1.0 - tokens) / self.rate
                msg = f"too much feedback from this key: retry in {wait:.1f} s ([feedback] key_rate_per_minute)"
                raise GatewayError(429, msg, code="rate_limited")
            self._buckets[client] = (tokens - 1.0, now)

    def weight(self, client: str, group: str, leverage: float | None = None) -> Charge:
        """Reserve the weight and influence of `client`'s next event on `group`, its leverage
        ``h(x)`` in the router in force (None: unknown, weight budget only), or raise a 429
        when one of the key's budgets on that group is spent."""
        with self._lock:
            key = (client, group)
            used = self._used.get(key, 0.0)
            weight = min(1.0, self.share * self.rows.get(group, 0.0) - used)
            if weight <= _EMPTY:
                raise self._spent(group, f"already weighs {used:g}", "key_share")
            influence = 0.0
            if leverage is not None and group in self.influence_budget and leverage > 0:
                system = (client, self._system[group])
                spent = self._influence.get(system, 0.0)
                left = self.influence_budget[group] - spent
                if left <= _EMPTY:
                    raise self._spent(group, f"already has influence {spent:g}", "key_influence")
                weight = min(weight, self.event_cap[group] / leverage, left / leverage)
                influence = weight * leverage
                self._influence[system] = spent + influence
            self._used[key] = used + weight
        return Charge(weight, influence)

    def charge(self, client: str, group: str, weight: float, influence: float = 0.0) -> None:
        """Count what `client` spent on another replica (its event came from the shared log,
        with the influence its origin computed)."""
        with self._lock:
            key, system = (client, group), self._system_of(client, group)
            self._used[key] = self._used.get(key, 0.0) + weight
            self._influence[system] = self._influence.get(system, 0.0) + influence

    def refund(self, client: str, group: str, charge: Charge) -> None:
        """Give back a reserved charge (the event was not folded)."""
        with self._lock:
            key, system = (client, group), self._system_of(client, group)
            self._used[key] = max(0.0, self._used.get(key, 0.0) - charge.weight)
            self._influence[system] = max(0.0, self._influence.get(system, 0.0) - charge.influence)

    def spent(self, client: str, group: str) -> tuple[float, float]:
        """The weight `client` has spent on `group` and the influence on its system (every
        domain of a domain router shares one)."""
        with self._lock:
            key, system = (client, group), self._system_of(client, group)
            return self._used.get(key, 0.0), self._influence.get(system, 0.0)

    def _system_of(self, client: str, group: str) -> tuple[str, str]:
        """The key of `client`'s influence budget for `group`."""
        return client, self._system.get(group, group)

    def _spent(self, group: str, what: str, knob: str) -> GatewayError:
        budget = (
            f"{self.share:g} of the {self.rows.get(group, 0.0):g} rows the router had"
            if knob == "key_share"
            else f"{self.influence_budget.get(group, 0.0):g} in influence units"
        )
        msg = f"this key's feedback on {group!r} {what}, its bound ({budget}; [feedback] {knob})"
        return GatewayError(429, msg, code="feedback_budget_spent")

    def stats(self) -> dict[str, Any]:
        """Keys seen (for ``/healthz``)."""
        with self._lock:
            return {"keys": len(self._buckets)}
