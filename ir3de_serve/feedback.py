"""Feedback: an observed score of an answer, folded into the router online, logged and saved.

Each answered completion is remembered (its routed text and the expert that answered) for
`window_seconds`. ``POST /v1/feedback {"id", "score"}`` folds ``{expert: score}`` for that text into
the router in force by `IR3DERouter.partial_fit` (rank-one steps in quality mode), on one writer
thread: events are folded one at a time, in the order they came, while requests keep routing
with the state published last. Every folded event is appended to the log (a training record
when prompts may be logged) and the router is saved atomically every N events or T seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any

from ir3de_serve.config import GatewayConfig
from ir3de_serve.errors import GatewayError
from ir3de_serve.memory import ExpiringMap
from ir3de_serve.metrics import GatewayMetrics
from ir3de_serve.storage import RouterSlot

__all__ = ["Completion", "FeedbackStore"]

logger = logging.getLogger("ir3de.serve")


@dataclass(frozen=True)
class Completion:
    """An answered completion awaiting feedback.

    Attributes:
        text: the text the router read.
        expert: the expert that answered.
        rule: the rule that chose it.
    """

    text: str
    expert: str
    rule: str


class FeedbackStore:
    """Completions awaiting feedback, the fold of each event, its log and the router's saves.

    Args:
        config: the gateway config (``[feedback]`` and ``server.log_prompts``).
        slot: the router in force (feedback is folded into the router in force when it comes).
        metrics: where events, refusals and saves are counted.
    """

    def __init__(self, config: GatewayConfig, slot: RouterSlot, metrics: GatewayMetrics) -> None:
        self.config = config.feedback
        self.log_prompts = config.server.log_prompts
        self.signing_key = config.router.signing_key()
        self.slot = slot
        self.metrics = metrics
        window, size = self.config.window_seconds, self.config.max_pending
        self._pending: ExpiringMap[str, Completion] = ExpiringMap(size, window)
        self._scored: ExpiringMap[str, bool] = ExpiringMap(size, window)
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="ir3de-feedback")
        self._log: IO[str] | None = None
        if self.config.log is not None:
            self.config.log.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.config.log.open("a", encoding="utf-8")
        self._counts = threading.Lock()
        self.received = 0
        self.folded = 0
        self.unsaved = 0
        self._last_save = time.monotonic()

    def remember(self, completion_id: str, completion: Completion) -> None:
        """`completion` may receive feedback under `completion_id`."""
        if self.config.enabled and completion.text:
            self._pending.set(completion_id, completion)

    async def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        """Validate one feedback event and fold it; returns what the endpoint answers.

        Raises:
            GatewayError: 400 (bad id or score), 404 (no such completion awaits feedback),
                409 (already scored, or the router can no longer learn it).
        """
        completion_id, score = self._validate(body)
        completion = self._pending.pop(completion_id)
        if completion is None:
            raise self._missing(completion_id)
        self._scored.set(completion_id, True)
        with self._counts:
            self.received += 1
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._writer, self._fold, completion_id, completion, score
        )

    def save_due(self) -> bool:
        """Whether unsaved events are older than `save_every_seconds`."""
        if self.config.save_to is None or not self.unsaved:
            return False
        return time.monotonic() - self._last_save >= self.config.save_every_seconds

    async def save(self) -> None:
        """Save the router now if events are unsaved (on the writer thread)."""
        if self.unsaved:
            await asyncio.get_running_loop().run_in_executor(self._writer, self._save)

    async def aclose(self) -> None:
        """Save what is unsaved, stop the writer thread and close the log."""
        await self.save()
        self._writer.shutdown(wait=True)
        if self._log is not None:
            self._log.close()

    def stats(self) -> dict[str, int]:
        """Counts for ``/healthz``: events received, folded, not yet saved; completions pending."""
        return {
            "received": self.received,
            "folded": self.folded,
            "unsaved": self.unsaved,
            "pending": len(self._pending),
        }

    # ------------------------------------------------------------------ internals
    def _validate(self, body: dict[str, Any]) -> tuple[str, float]:
        if not self.config.enabled:
            raise GatewayError(404, "feedback is turned off in this gateway ([feedback] enabled)")
        completion_id, score = body.get("id"), body.get("score")
        if not isinstance(completion_id, str) or not completion_id:
            self.metrics.feedback_rejected.labels("bad_request").inc()
            msg = "'id' is required: the id of the chat completion being scored"
            raise GatewayError(400, msg, param="id")
        if (
            not isinstance(score, int | float)
            or isinstance(score, bool)
            or not math.isfinite(score)
        ):
            self.metrics.feedback_rejected.labels("bad_request").inc()
            msg = f"'score' must be a finite number (the observed quality), got {score!r}"
            raise GatewayError(400, msg, param="score")
        return completion_id, float(score)

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

    def _fold(self, completion_id: str, completion: Completion, score: float) -> dict[str, Any]:
        """Runs on the writer thread: fold, log, maybe save."""
        router = self.slot.router
        if router.target != "quality" or completion.expert not in router.experts_:
            self.metrics.feedback_rejected.labels("cannot_learn").inc()
            why = (
                "the router routes by domain (feedback needs target='quality')"
                if router.target != "quality"
                else f"the router in force has no expert {completion.expert!r} any more"
            )
            raise GatewayError(409, f"feedback cannot be folded: {why}", code="cannot_learn")
        router.partial_fit([completion.text], [{completion.expert: score}])
        with self._counts:
            self.folded += 1
            self.unsaved += 1
        self.metrics.feedback.labels(completion.expert).inc()
        self.metrics.unsaved.set(self.unsaved)
        self._append(completion_id, completion, score)
        if self.unsaved >= self.config.save_every_events:
            self._save()
        return {"id": completion_id, "expert": completion.expert, "score": score, "folded": True}

    def _append(self, completion_id: str, completion: Completion, score: float) -> None:
        if self._log is None:
            return
        line: dict[str, Any] = {
            "time": round(time.time(), 3),
            "id": completion_id,
            "expert": completion.expert,
            "rule": completion.rule,
            "scores": {completion.expert: score},
        }
        if self.log_prompts:
            line["prompt"] = completion.text
        self._log.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._log.flush()

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
