"""`Gateway`: one request's path — decide, call the expert (falling back), record what happened.

The decision is the core's: `IR3DERouter.route` with the policy in force among the experts that
are up, then the conversation rule (`sticky`); an expert named as the model is forced. The call
falls back per the policy on transient failures only (`ir3de_core.decide.fallback`); an expert that
failed transiently is left out of routing for `cooldown_seconds`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ir3de_core.decide.decision import RoutingDecision
from ir3de_core.decide.fallback import acall_with_fallback, is_transient
from ir3de_core.decide.policy import RoutingPolicy
from ir3de_core.router import IR3DERouter
from ir3de_serve.config import ROUTED_MODEL, GatewayConfig
from ir3de_serve.errors import GatewayError, upstream_error
from ir3de_serve.feedback import Completion, FeedbackStore
from ir3de_serve.logfile import JsonLog
from ir3de_serve.messages import ChatRequest
from ir3de_serve.metrics import GatewayMetrics
from ir3de_serve.rollout import Rollout
from ir3de_serve.sticky import Conversations
from ir3de_serve.storage import RouterSlot
from ir3de_serve.upstream import Rewrite, Upstreams, UpstreamStream

__all__ = ["Answer", "ExpertHealth", "Gateway"]

logger = logging.getLogger("ir3de.serve")
_SLOW_FEATURIZERS = frozenset({"sentence", "openai"})  # decided on a worker thread


@dataclass(frozen=True)
class Answer:
    """What an expert answered, and the decision as it ended.

    Attributes:
        decision: the expert that answered, the rule that chose it, the experts that failed
            before it (``fallback_from``).
        completion_id: the id the client sees (and sends back with feedback).
        routed: whether the router scored the request (False: an expert named, no text).
        body: the answer's JSON bytes (non-streaming).
        stream: the answer's events (streaming).
    """

    decision: RoutingDecision
    completion_id: str
    routed: bool
    body: bytes | None = None
    stream: UpstreamStream | None = None

    def headers(self) -> dict[str, str]:
        """The ``x-ir3de-*`` headers of the response."""
        out = {"x-ir3de-expert": self.decision.expert, "x-ir3de-rule": self.decision.rule}
        if self.routed:
            out["x-ir3de-confidence"] = f"{self.decision.confidence:.6g}"
        if self.decision.fallback_from:
            out["x-ir3de-fallback-from"] = ",".join(self.decision.fallback_from)
        return out


@dataclass
class ExpertHealth:
    """Experts that failed transiently are left out of routing for `cooldown` seconds."""

    cooldown: float
    _until: dict[str, float] = field(default_factory=dict)

    def failed(self, expert: str) -> None:
        if self.cooldown > 0:
            self._until[expert] = time.monotonic() + self.cooldown

    def available(self, experts: Collection[str]) -> list[str]:
        """The experts that are up (every expert when none is)."""
        now = time.monotonic()
        up = [e for e in experts if self._until.get(e, 0.0) <= now]
        return up or list(experts)


class Gateway:
    """The gateway's state and its request path (the HTTP layer is `ir3de_serve.app`).

    Args:
        config: the validated config.
        router: start with this router instead of loading ``[router] path``.
        pending: a SQLite file of completions awaiting feedback shared by workers (None: memory).
    """

    def __init__(
        self,
        config: GatewayConfig,
        *,
        router: IR3DERouter | None = None,
        pending: Path | None = None,
    ) -> None:
        config.check_environment()
        self.config = config
        self.metrics = GatewayMetrics()
        self.slot = RouterSlot(config, router)
        self.upstreams = Upstreams(config.experts)
        self.feedback = FeedbackStore(config, self.slot, self.metrics, pending=pending)
        self.rollout = Rollout(config, self.slot, self.metrics, self.feedback.shared)
        self.conversations = Conversations(config.sticky)
        self.health = ExpertHealth(config.server.cooldown_seconds)
        self._decisions: JsonLog | None = None
        if config.server.decision_log is not None:
            self._decisions = JsonLog(config.server.decision_log, config.server.log_max_bytes)

    async def chat(self, request: ChatRequest) -> Answer:
        """Decide, call the expert (falling back on transient failures) and record the answer.

        Raises:
            GatewayError: unknown model, nothing to route on, or the experts failed.
        """
        router, policy, version = self.slot.current
        forced = self._forced(request.model)
        available = None if forced else self.health.available(router.experts_)
        decision, routed = await self._decide(router, policy, request, forced, available)
        completion_id = f"chatcmpl-{secrets.token_hex(12)}"

        async def call(expert: str) -> bytes | UpstreamStream:
            return await self._call(expert, request, completion_id)

        try:
            result, final = await acall_with_fallback(
                decision,
                call,
                policy=policy,
                max_attempts=1 if forced else self.config.server.max_attempts,
                available=available,
            )
        except Exception as e:
            raise upstream_error(e, self.upstreams.secrets) from e
        shadowed = None
        if self.rollout.shadow is not None and routed and forced is None:
            shadowed = await self.rollout.shadow.observe(
                completion_id, request.text, final, available
            )
        self._record(request, final, completion_id, version, shadowed)
        if isinstance(result, UpstreamStream):
            return Answer(final, completion_id, routed, stream=result)
        return Answer(final, completion_id, routed, body=result)

    async def aclose(self) -> None:
        """Save unsaved feedback, close the upstream connections and the logs."""
        await self.feedback.aclose()
        await self.upstreams.aclose()
        if self._decisions is not None:
            self._decisions.close()

    # ------------------------------------------------------------------ internals
    def _forced(self, model: str) -> str | None:
        if model == ROUTED_MODEL:
            return None
        if model in self.config.experts:
            return model
        names = ", ".join([ROUTED_MODEL, *self.config.experts])
        msg = f"the model {model!r} does not exist here; use one of: {names}"
        raise GatewayError(404, msg, param="model", code="model_not_found")

    async def _decide(
        self,
        router: IR3DERouter,
        policy: RoutingPolicy,
        request: ChatRequest,
        forced: str | None,
        available: list[str] | None,
    ) -> tuple[RoutingDecision, bool]:
        if not request.text.strip():
            if forced is None:
                msg = "no text to route on: send a user message with text, or name an expert"
                raise GatewayError(400, msg, param="messages", code="nothing_to_route")
            return RoutingDecision(forced, {forced: 0.0}, 1.0, rule="forced"), False
        started = time.perf_counter()
        route = functools.partial(
            router.route, [request.text], policy=policy, available=available, forced=forced
        )
        slow = router.featurizer_.kind in _SLOW_FEATURIZERS
        decision = (await asyncio.to_thread(route) if slow else route())[0]
        if forced is None and self.config.sticky.enabled:
            decision = policy.keep(
                decision,
                self.conversations.held(request.conversation),
                in_loop=request.in_loop,
                available=available or router.experts_,
                switch_confidence=self.config.sticky.switch_confidence,
            )
        self.metrics.routing_seconds.observe(time.perf_counter() - started)
        return decision, True

    async def _call(
        self, expert: str, request: ChatRequest, completion_id: str
    ) -> bytes | UpstreamStream:
        rewrite = _rewriter(completion_id, expert)
        started = time.perf_counter()
        try:
            result: bytes | UpstreamStream
            if request.stream:
                result = await self.upstreams.open_stream(expert, request.body, rewrite)
            else:
                result = await self.upstreams.complete(expert, request.body, rewrite)
        except Exception as e:
            if is_transient(e):
                self.health.failed(expert)
            raise
        self.metrics.upstream_seconds.labels(expert).observe(time.perf_counter() - started)
        return result

    def _record(
        self,
        request: ChatRequest,
        decision: RoutingDecision,
        completion_id: str,
        version: int,
        shadowed: dict[str, Any] | None = None,
    ) -> None:
        self.metrics.decisions.labels(decision.expert, decision.rule).inc()
        for failed in decision.fallback_from:
            self.metrics.fallbacks.labels(failed).inc()
        self.conversations.remember(request.conversation, decision.expert)
        self.feedback.remember(
            completion_id, Completion(request.text, decision.expert, decision.rule)
        )
        if self._decisions is not None:
            self._log_decision(self._decisions, request, decision, completion_id, version, shadowed)

    def _log_decision(
        self,
        log: JsonLog,
        request: ChatRequest,
        decision: RoutingDecision,
        completion_id: str,
        version: int,
        shadowed: dict[str, Any] | None = None,
    ) -> None:
        line: dict[str, Any] = {
            "time": round(time.time(), 3),
            "id": completion_id,
            "model": request.model,
            "expert": decision.expert,
            "rule": decision.rule,
            "confidence": decision.confidence,
            "propensity": decision.propensity,
            "novelty": decision.novelty,
            "fallback_from": list(decision.fallback_from),
            "stream": request.stream,
            "router_version": version,
        }
        if self.config.server.log_prompts:
            line["prompt"] = request.text
        log.write({**line, **(shadowed or {})})


def _rewriter(completion_id: str, expert: str) -> Rewrite:
    """Sets the gateway's completion id and the expert's name on an answer or a chunk."""

    def rewrite(answer: dict[str, Any]) -> None:
        if "choices" in answer or "id" in answer:
            answer["id"] = completion_id
            answer["model"] = expert

    return rewrite
