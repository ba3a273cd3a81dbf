"""Prometheus metrics of one gateway (its own registry, so gateways in one process stay apart)."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    exposition,
    generate_latest,
)

__all__ = ["CONTENT_TYPE", "GatewayMetrics"]

CONTENT_TYPE = exposition.CONTENT_TYPE_LATEST
_ROUTING_BUCKETS = (1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
_UPSTREAM_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class GatewayMetrics:
    """The gateway's counters and histograms (names start with ``ir3de_``).

    Attributes:
        decisions: decisions by the expert that answered and the rule that chose it.
        routing_seconds: time to decide (featurize, score, apply the policy).
        upstream_seconds: time for the expert to answer (to the first event when streaming).
        fallbacks: requests moved off an expert after a transient failure, by that expert.
        requests: chat completion requests by HTTP status.
        feedback: feedback events folded into the router, by expert.
        feedback_rejected: feedback refused, by reason.
        saves: router saves written; reloads: new router files by outcome.
        unsaved: feedback events folded but not yet saved.
        promotions, rollbacks: router switches put in force (with replicas: folded from the log).
        switches_refused: switches refused (the router in force stays), by reason.
        version_in_force: 1 for the name of the router version in force (``base``: none yet).
        shadow_gain: the shadow candidate's latest DR gain over the router in force, by bound
            (``estimate``, ``low``, ``high`` of its interval); shadow_events: its events.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.decisions = Counter(
            "ir3de_decisions", "Decisions by expert and rule", ["expert", "rule"], registry=r
        )
        self.routing_seconds = Histogram(
            "ir3de_routing_seconds", "Time to decide", buckets=_ROUTING_BUCKETS, registry=r
        )
        self.upstream_seconds = Histogram(
            "ir3de_upstream_seconds",
            "Time for the expert to answer (first event when streaming)",
            ["expert"],
            buckets=_UPSTREAM_BUCKETS,
            registry=r,
        )
        self.fallbacks = Counter(
            "ir3de_fallbacks", "Transient failures that moved a request on", ["expert"], registry=r
        )
        self.requests = Counter(
            "ir3de_requests", "Chat completion requests by status", ["status"], registry=r
        )
        self.feedback = Counter(
            "ir3de_feedback_events", "Feedback events folded", ["expert"], registry=r
        )
        self.feedback_rejected = Counter(
            "ir3de_feedback_rejected", "Feedback refused", ["reason"], registry=r
        )
        self.saves = Counter("ir3de_router_saves", "Router saves written", registry=r)
        self.reloads = Counter(
            "ir3de_router_reloads", "New router files seen", ["outcome"], registry=r
        )
        self.unsaved = Gauge("ir3de_feedback_unsaved", "Feedback events not yet saved", registry=r)
        self.promotions = Counter("ir3de_router_promotions", "Promotions put in force", registry=r)
        self.rollbacks = Counter("ir3de_router_rollbacks", "Rollbacks put in force", registry=r)
        self.switches_refused = Counter(
            "ir3de_router_switches_refused", "Switches refused", ["reason"], registry=r
        )
        self.version_in_force = Gauge(
            "ir3de_router_version_in_force", "The router version in force", ["version"], registry=r
        )
        self.shadow_gain = Gauge(
            "ir3de_shadow_dr_gain", "The shadow's DR gain and interval", ["bound"], registry=r
        )
        self.shadow_events = Gauge(
            "ir3de_shadow_events", "Events in the shadow's estimate", registry=r
        )
        self.in_force(None)

    def in_force(self, version: str | None) -> None:
        """Set the version in force (None: the router the gateway started with)."""
        self.version_in_force.clear()
        self.version_in_force.labels(version or "base").set(1)

    def shadow_estimate(self, n_events: int, gain: tuple[float, float, float] | None) -> None:
        """Record the shadow's latest estimate: (DR gain, low, high), None when there is none."""
        self.shadow_events.set(n_events)
        for bound, value in zip(("estimate", "low", "high"), gain or (), strict=False):
            self.shadow_gain.labels(bound).set(value)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
