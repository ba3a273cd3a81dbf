"""Feedback: an observed score of an answer, folded into the router online, logged and saved.

Each answered completion is remembered (its routed text and the expert that answered) for
`window_seconds`. ``POST /v1/feedback {"id", "score"}`` folds ``{expert: score}`` for that text into
the router in force by `IR3DERouter.partial_fit` (rank-one steps in quality mode), on one writer
thread: events are folded one at a time, in the order they came, while requests keep routing
with the state published last. Every folded event is appended to the log (a training record
when prompts may be logged) and the router is saved atomically every N events or T seconds.
With ``[feedback] shared_log`` (replicas) an accepted event is committed to the shared log
instead, and every replica folds the log in order (`ir3de_serve.shared_feedback`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ir3de_serve.completion import Completion
from ir3de_serve.config import GatewayConfig
from ir3de_serve.errors import GatewayError
from ir3de_serve.guard import FeedbackGuard, score_range
from ir3de_serve.influence import leverage_of, leverage_supported, router_leverage
from ir3de_serve.logfile import JsonLog
from ir3de_serve.memory import ExpiringMap
from ir3de_serve.metrics import GatewayMetrics
from ir3de_serve.pending import SharedPending, SharedScored
from ir3de_serve.storage import RouterSlot

if TYPE_CHECKING:
    from ir3de_serve.shared_feedback import SharedFeedback

__all__ = ["Completion", "FeedbackStore"]

logger = logging.getLogger("ir3de.serve")


class FeedbackStore:
    """Completions awaiting feedback, the fold of each event, its log and the router's saves.

    Args:
        config: the gateway config (``[feedback]`` and ``server.log_prompts``).
        slot: the router in force (feedback is folded into the router in force when it comes).
        metrics: where events, refusals and saves are counted.
    """

    def __init__(
        self,
        config: GatewayConfig,
        slot: RouterSlot,
        metrics: GatewayMetrics,
        *,
        pending: Path | None = None,
    ) -> None:
        self.config = config.feedback
        self.log_prompts = config.server.log_prompts
        self.signing_key = config.router.signing_key()
        self.slot = slot
        self.metrics = metrics
        window, size = self.config.window_seconds, self.config.max_pending
        self._pending: ExpiringMap[str, Completion] | SharedPending
        self._scored: ExpiringMap[str, bool] | SharedScored
        if pending is None:
            self._pending = ExpiringMap(
                size, window, max_bytes=self.config.max_pending_bytes, size=Completion.nbytes
            )
            self._scored = ExpiringMap(size, window)
        else:  # workers: the completion is found whichever worker the feedback reaches
            self._pending = SharedPending(pending, window)
            self._scored = SharedScored(self._pending)
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="ir3de-feedback")
        self._log: JsonLog | None = None
        if self.config.log is not None:
            self._log = JsonLog(self.config.log, config.server.log_max_bytes)
        router = slot.router
        self.range = score_range(router, self.config.score_range)
        stats = router.statistics_
        self.guard = FeedbackGuard(
            self.config,
            {n: float(r) for n, r in zip(stats.names, stats.n_prompts, strict=True)},
            router_leverage(router),
        )
        self.shared: SharedFeedback | None = None
        if self.config.shared_log is not None:  # replicas: every event goes through the log
            from ir3de_serve.shared_feedback import SharedFeedback

            self.shared = SharedFeedback(config, slot, self.guard, metrics, self._append)
        self._counts = threading.Lock()
        self.received = 0
        self.folded = 0
        self.unsaved = 0
        self._last_save = time.monotonic()

    def remember(self, completion_id: str, completion: Completion) -> None:
        """`completion` may receive feedback under `completion_id`."""
        if self.config.enabled and completion.text:
            self._pending.set(completion_id, completion)

    async def submit(self, body: dict[str, Any], *, client: str = "") -> dict[str, Any]:
        """Validate one feedback event from `client` (a key's id) and fold it; returns what the
        endpoint answers.

        Raises:
            GatewayError: 400 (bad id, score out of range or unknown expert), 404 (no such
                completion awaits feedback), 409 (already scored, or the router can no longer
                learn it), 429 (the key's rate or weight budget).
        """
        completion_id, score = self._validate(body)
        self.guard.admit(client)
        completion = self._pending.pop(completion_id)
        if completion is None:
            raise self._missing(completion_id)
        self._scored.set(completion_id, True)
        with self._counts:
            self.received += 1
        loop = asyncio.get_running_loop()
        if self.shared is not None:
            return await self._submit_shared(
                self.shared, completion_id, completion, float(score), client
            )
        return await loop.run_in_executor(
            self._writer, self._fold, completion_id, completion, score, client
        )

    def save_due(self) -> bool:
        """Whether unsaved events are older than `save_every_seconds`."""
        if self.config.save_to is None or not self.unsaved or self.shared is not None:
            return False  # with a shared log the folding thread saves (with its cursor)
        return time.monotonic() - self._last_save >= self.config.save_every_seconds

    async def save(self) -> None:
        """Save the router now if events are unsaved (on the writer thread)."""
        if self.unsaved:
            await asyncio.get_running_loop().run_in_executor(self._writer, self._save)

    async def aclose(self) -> None:
        """Save what is unsaved, stop the writer thread and close the log."""
        if self.shared is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.shared.close)
        await self.save()
        self._writer.shutdown(wait=True)
        if self._log is not None:
            self._log.close()

    def stats(self) -> dict[str, Any]:
        """Counts for ``/healthz``: events received, folded, not yet saved; completions pending."""
        counts: dict[str, Any] = {
            "received": self.received,
            "folded": self.folded,
            "unsaved": self.unsaved,
            "pending": len(self._pending),
            "pending_bytes": self._pending.nbytes,
        }
        return counts if self.shared is None else {**counts, **self.shared.stats()}

    # ------------------------------------------------------------------ internals
    async def _submit_shared(
        self,
        shared: SharedFeedback,
        completion_id: str,
        completion: Completion,
        score: float,
        client: str,
    ) -> dict[str, Any]:
        """Commit the event to the shared log (the ack); an event not accepted (503) can be
        sent again."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                shared.appends, shared.append, completion_id, completion, score, client
            )
        except GatewayError as e:
            if e.status == 503:
                self._scored.pop(completion_id)
                self._pending.set(completion_id, completion)
            raise

    def _validate(self, body: dict[str, Any]) -> tuple[str, float | str]:
        """The id and, per the router's target, a score in range (quality) or an expert the
        router knows (domain: the expert that should have answered)."""
        if not self.config.enabled:
            raise GatewayError(404, "feedback is turned off in this gateway ([feedback] enabled)")
        completion_id, score = body.get("id"), body.get("score")
        if not isinstance(completion_id, str) or not completion_id:
            msg = "'id' is required: the id of the chat completion being scored"
            raise self._bad(msg, "id")
        router = self.slot.router
        if router.target == "domain":
            expert = body.get("expert")
            if not isinstance(expert, str) or expert not in router.expert_map_.values():
                known = sorted(set(router.expert_map_.values()))
                msg = f"'expert' must name the expert that should have answered, one of {known}"
                raise self._bad(msg, "expert")
            return completion_id, expert
        if (
            not isinstance(score, int | float)
            or isinstance(score, bool)
            or not math.isfinite(score)
        ):
            msg = f"'score' must be a finite number (the observed quality), got {score!r}"
            raise self._bad(msg, "score")
        low, high = self.range
        if not low <= score <= high:
            msg = (
                f"'score' {score!r} is outside [{low:g}, {high:g}], the range seen in training "
                "([feedback] score_range)"
            )
            raise self._bad(msg, "score", code="score_out_of_range")
        return completion_id, float(score)

    def _bad(self, message: str, param: str, code: str | None = None) -> GatewayError:
        self.metrics.feedback_rejected.labels("bad_request").inc()
        return GatewayError(400, message, param=param, code=code)

    def _missing(self, completion_id: str) -> GatewayError:
        if self._scored.get(completion_id):
            self.metrics.feedback_rejected.labels("already_scored").inc()
            msg = f"completion {completion_id!r} was already scored"
            return GatewayError(409, msg, param="id", code="feedback_exists")
        self.metrics.feedback_rejected.labels("unknown_id").inc()
        msg = (
            f"no completion {completion_id!r} awaits feedback: unknown, or older than "
            f"{self.config.window_seconds:g} s ([feedback] window_seconds)"
        )
        return GatewayError(404, msg, param="id", code="completion_not_found")

    def _fold(
        self, completion_id: str, completion: Completion, score: float | str, client: str
    ) -> dict[str, Any]:
        """Runs on the writer thread: fold (with the key's bounded weight), log, maybe save."""
        router = self.slot.router
        if completion.expert not in router.experts_ or (router.target == "domain") != (
            isinstance(score, str)
        ):
            self.metrics.feedback_rejected.labels("cannot_learn").inc()
            why = f"the router in force has no expert {completion.expert!r} or another target"
            raise GatewayError(409, f"feedback cannot be folded: {why}", code="cannot_learn")
        if isinstance(score, str):  # domain mode: a domain of the expert that should have answered
            label: Any = sorted(d for d, e in router.expert_map_.items() if e == score)[0]
        else:
            label = {completion.expert: score}
        group = label if isinstance(label, str) else completion.expert
        row = None
        if leverage_supported(router):  # featurized once: for the leverage and the fold
            row = router.transform([completion.text])
        leverage = None
        if row is not None:  # the starting router's (replicas agree), else the one in force
            leverage = self.guard.leverage(group, row[0])
            if leverage is None:
                leverage = leverage_of(router, group, row[0])
        charge = self.guard.weight(client, group, leverage)
        try:
            if row is None or router.target == "domain":  # a domain fold re-solves from sums
                router.partial_fit([completion.text], [label], sample_weight=[charge.weight])
            else:
                router.partial_fit_features(row, [label], sample_weight=[charge.weight])
        except BaseException:
            self.guard.refund(client, group, charge)
            raise
        with self._counts:
            self.folded += 1
            self.unsaved += 1
        self.metrics.feedback.labels(completion.expert).inc()
        self.metrics.unsaved.set(self.unsaved)
        self._append(completion_id, completion, label, charge.weight, charge.influence)
        if self.unsaved >= self.config.save_every_events:
            self._save()
        answer = {"id": completion_id, "expert": completion.expert, "folded": True}
        return {**answer, "score": score, "weight": charge.weight, "influence": charge.influence}

    def _append(
        self,
        completion_id: str,
        completion: Completion,
        label: Any,
        weight: float,
        influence: float,
        sequence: int | None = None,
    ) -> None:
        if self._log is None:
            return
        line: dict[str, Any] = {
            "time": round(time.time(), 3),
            "id": completion_id,
            "expert": completion.expert,
            "rule": completion.rule,
            "weight": weight,
            "influence": influence,
        }
        line["domain" if isinstance(label, str) else "scores"] = label
        if sequence is not None:
            line["sequence"] = sequence
        if self.log_prompts:
            line["prompt"] = completion.text
        self._log.write(line)

    def _save(self) -> None:
        """Runs on the writer thread."""
        if self.config.save_to is None or not self.unsaved:
            return
        try:
            saved = self.slot.save(self.config.save_to, self.signing_key)
        except OSError as e:
            logger.error("saving the router to %s failed: %s", self.config.save_to, e)
            return
        self._last_save = time.monotonic()
        with self._counts:
            self.unsaved = 0
        self.metrics.unsaved.set(0)
        if saved:
            self.metrics.saves.inc()
        else:
            logger.warning(
                "not saving over the new router in %s: it is loaded instead (the events folded "
                "since the last save are in the feedback log)",
                self.config.save_to,
            )
