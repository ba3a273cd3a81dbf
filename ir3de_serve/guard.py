"""What one feedback key may do: scores in the target's range, a rate, and a bounded weight.

The bound (docs/security.md): each key's events on one group (an expert in quality mode, a
domain in domain mode) weigh together at most ``key_share`` × the rows that group had when the
gateway started, and each score lies in ``[low, high]``. An event past the budget is folded
with the weight left, then refused (429), so no key's feedback outweighs that share of the
training data however many events it sends.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from ir3de_core.router import IR3DERouter
from ir3de_serve.config import FeedbackConfig
from ir3de_serve.errors import GatewayError

__all__ = ["FeedbackGuard", "score_range"]


def score_range(router: IR3DERouter, configured: tuple[float, float] | None) -> tuple[float, float]:
    """The scores accepted: `configured`, else the smallest and largest target seen in training."""
    if configured is not None:
        return configured
    seen = router.statistics_.target_range().values()
    if not seen:
        return (-math.inf, math.inf)
    return min(lo for lo, _ in seen), max(hi for _, hi in seen)


class FeedbackGuard:
    """Per-key rate limits (a token bucket) and weight budgets per group.

    Args:
        config: ``[feedback]`` (``key_share``, ``key_rate_per_minute``).
        rows: each group's rows (weight) when the gateway started.
        clock: the time source (monotonic seconds).
    """

    def __init__(
        self,
        config: FeedbackConfig,
        rows: Mapping[str, float],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.share = config.key_share
        self.rate = config.key_rate_per_minute / 60.0
        self.burst = max(1.0, config.key_rate_per_minute / 6.0)  # ten seconds' worth
        self.rows = dict(rows)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._used: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

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

    def weight(self, client: str, group: str) -> float:
        """Reserve the weight of `client`'s next event on `group` (≤ 1), or raise a 429 when the
        key's budget on that group is spent."""
        budget = self.share * self.rows.get(group, 0.0)
        with self._lock:
            used = self._used.get((client, group), 0.0)
            weight = min(1.0, budget - used)
            if weight <= 1e-12:
                msg = (
                    f"this key's feedback on {group!r} already weighs {used:g}, its bound "
                    f"({self.share:g} of the {self.rows.get(group, 0.0):g} rows the router had; "
                    "[feedback] key_share)"
                )
                raise GatewayError(429, msg, code="feedback_budget_spent")
            self._used[(client, group)] = used + weight
        return weight

    def charge(self, client: str, group: str, weight: float) -> None:
        """Count a weight `client` spent on another replica (its event came from the shared log)."""
        with self._lock:
            key = (client, group)
            self._used[key] = self._used.get(key, 0.0) + weight

    def refund(self, client: str, group: str, weight: float) -> None:
        """Give back a reserved weight (the event was not folded)."""
        with self._lock:
            key = (client, group)
            self._used[key] = max(0.0, self._used.get(key, 0.0) - weight)

    def stats(self) -> dict[str, Any]:
        """Keys seen (for ``/healthz``)."""
        with self._lock:
            return {"keys": len(self._buckets)}
