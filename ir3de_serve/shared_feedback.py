"""`SharedFeedback`: a replica's side of the shared log — append before the ack, fold in order.

An accepted event is featurized once (its row), appended to the shared log and committed
durably before the client hears ``200``; the log gives it its sequence number. A folding thread
reads the log after the replica's cursor and folds every event, its own and other replicas',
one at a time in sequence order, so replicas that started from the same router hold the same
statistics, bit for bit, once they have folded the same prefix. The router is saved with the
cursor in one atomic step (`ir3de_serve.sharedlog.cursor`); a restarted replica loads its save
and folds the events after its cursor, none twice. A router switch (promotion or rollback)
is an entry of the same log, applied at its place in the order (`ir3de_serve.switching`).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ir3de_core.exceptions import IR3DEError
from ir3de_core.experts import check_experts
from ir3de_core.router import IR3DERouter
from ir3de_serve.completion import Completion
from ir3de_serve.config import ConfigError, GatewayConfig
from ir3de_serve.errors import GatewayError
from ir3de_serve.guard import FeedbackGuard
from ir3de_serve.influence import leverage_of
from ir3de_serve.metrics import GatewayMetrics
from ir3de_serve.sharedlog import (
    FeedbackEvent,
    LoggedEvent,
    SharedLog,
    SharedLogError,
    decode_event,
    encode_event,
    open_shared_log,
    read_cursor,
    read_switch_state,
    statistics_digest,
    write_cursor,
)
from ir3de_serve.sharedlog.switches import is_switch
from ir3de_serve.storage import RouterSlot, check_routes
from ir3de_serve.switching import LogSwitches, rows_foldable

__all__ = ["SharedFeedback"]

logger = logging.getLogger("ir3de.serve")
Record = Callable[[str, Completion, dict[str, float], float, float, int], None]
_BATCH = 512


class SharedFeedback:
    """Appends accepted events to the shared log and folds the log into the router in force.

    Args:
        config: the gateway config (``[feedback] shared_log`` set).
        slot: the router in force; its router at start is the base every replica shares.
        guard: the feedback bounds (other replicas' events are charged to their keys too).
        metrics: where folds, refusals and saves are counted.
        record: writes an accepted event to ``[feedback] log`` (id, expert, label, weight, seq).

    Raises:
        ConfigError: the router cannot fold feature rows (domain mode, token rows, ...).
        SharedLogError: the log cannot be opened, belongs to another router, or the saved
            state in ``save_to`` belongs to another log.
    """

    def __init__(
        self,
        config: GatewayConfig,
        slot: RouterSlot,
        guard: FeedbackGuard,
        metrics: GatewayMetrics,
        record: Record,
    ) -> None:
        self.config = config.feedback
        self.gateway_config = config
        self.slot, self.guard, self.metrics, self.record = slot, guard, metrics, record
        self.origin = secrets.token_hex(8)
        self.signing_key = config.router.signing_key()
        _check_foldable(slot.router)
        url, password = self.config.shared_log or "", self.config.shared_log_password_env
        self._appender: SharedLog = open_shared_log(url, password_env=password)
        self._reader: SharedLog = open_shared_log(url, password_env=password)
        self.engine = self._appender.engine
        self.base = statistics_digest(slot.router.statistics_)
        self._appender.check_base(self.base)
        self.log_id = self._appender.identity()
        self.switches = LogSwitches(config, slot, metrics, self.log_id)
        self.cursor = self._resume()
        self.folded = self.skipped = self.unsaved = 0
        self._last_save = time.monotonic()
        self.appends = ThreadPoolExecutor(1, thread_name_prefix="ir3de-sharedlog-append")
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, name="ir3de-sharedlog-fold", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ the ack path
    def append(
        self, completion_id: str, completion: Completion, score: float, client: str
    ) -> dict[str, Any]:
        """Runs on the append thread: weigh, featurize, commit to the log; what the client hears.

        Raises:
            GatewayError: 409 (the router cannot learn this expert), 429 (the key's budget),
                503 (the log cannot be written: the event is not accepted).
        """
        router, expert = self.slot.router, completion.expert
        if expert not in router.experts_:
            self.metrics.feedback_rejected.labels("cannot_learn").inc()
            msg = f"feedback cannot be folded: the router in force has no expert {expert!r}"
            raise GatewayError(409, msg, code="cannot_learn")
        row = router.transform([completion.text])[0]
        charge = self.guard.weight(client, expert, leverage_of(router, expert, row))
        try:
            event = FeedbackEvent(
                completion_id, expert, score, charge.weight, client, self.origin, row,
                charge.influence,
            )  # fmt: skip
            sequence = self._appender.append(completion_id, encode_event(event))
        except SharedLogError as e:
            self.guard.refund(client, expert, charge)
            self.metrics.feedback_rejected.labels("log_unavailable").inc()
            logger.error("feedback not accepted: %s", e)
            msg = "the shared feedback log cannot be written now; the event was not accepted: send it again"
            raise GatewayError(503, msg, code="feedback_log_unavailable") from e
        except BaseException:
            self.guard.refund(client, expert, charge)
            raise
        self._wake.set()
        label = {expert: score}
        self.record(completion_id, completion, label, charge.weight, charge.influence, sequence)
        answer = {"id": completion_id, "expert": expert, "score": score, "weight": charge.weight}
        answer["influence"] = charge.influence
        return {**answer, "sequence": sequence, "folded": self.cursor >= sequence}

    def append_switch(self, key: str, payload: bytes) -> tuple[int, bytes]:
        """Append a router switch under `key` on the append thread; its sequence number and
        the payload the log holds under `key` (another replica's when it appended first).

        Raises:
            SharedLogError: the log cannot be written.
        """

        def work() -> tuple[int, bytes]:
            sequence = self._appender.append(key, payload)
            return sequence, self._appender.read(sequence - 1, 1)[0].payload

        return self.appends.submit(work).result()

    def wake(self) -> None:
        """Make the folding thread read the log now."""
        self._wake.set()

    # ------------------------------------------------------------------ the folding thread
    def fold_available(self) -> int:
        """Fold every committed event after the cursor, in order; returns how many.

        Raises:
            SwitchPending: a router switch cannot be loaded here now (folding stops before it).
        """
        total = 0
        while True:
            events = self._reader.read(self.cursor, _BATCH)
            if not events:
                break
            run: list[LoggedEvent] = []  # events since the last switch or save, folded together
            for logged in events:
                switch = is_switch(logged.payload)
                if not switch:
                    run.append(logged)
                if run and (switch or len(run) == self.config.save_every_events):
                    self._fold_batch(run)
                    run = []
                if switch:
                    self.switches.fold(logged)  # SwitchPending: the cursor stays before it
                    self._advance(logged.sequence)
                if switch or self.unsaved >= self.config.save_every_events:
                    self.save()
            if run:
                self._fold_batch(run)
                if self.unsaved >= self.config.save_every_events:
                    self.save()
            total += len(events)
        return total

    def save(self) -> None:
        """Save the router with its cursor, atomically (the folding thread, or after it stopped)."""
        if self.config.save_to is None or not self.unsaved:
            return
        sequence, switches = self.cursor, self.switches.state()

        def cursor(folder: Any) -> None:
            write_cursor(
                folder, log_id=self.log_id, base=self.base, sequence=sequence,
                signing_key=self.signing_key, switches=switches,
            )  # fmt: skip

        try:
            self.slot.save(self.config.save_to, self.signing_key, sidecar=cursor)
        except OSError as e:
            logger.error("saving the router to %s failed: %s", self.config.save_to, e)
            return
        self._last_save = time.monotonic()
        self.unsaved = 0
        self.metrics.unsaved.set(0)
        self.metrics.saves.inc()

    def close(self) -> None:
        """Stop folding (after what is committed now), save, close the log."""
        self.appends.shutdown(wait=True)
        self._stop.set()
        self._wake.set()
        self._thread.join()
        try:
            self.fold_available()
        except SharedLogError as e:
            logger.error("the shared feedback log could not be read at shutdown: %s", e)
        self.save()
        self._appender.close()
        self._reader.close()

    def stats(self) -> dict[str, Any]:
        """For ``/healthz``: the engine, the cursor, events folded and skipped since start."""
        return {
            "shared_log": self.engine,
            "sequence": self.cursor,
            "folded": self.folded,
            "skipped": self.skipped,
            "unsaved": self.unsaved,
            "switches": self.switches.stats(),
        }

    # ------------------------------------------------------------------ internals
    def _resume(self) -> int:
        """Route with the saved state in ``save_to`` when it belongs to this log; its cursor."""
        folder = self.config.save_to
        if folder is None or not folder.exists():
            return 0
        cursor = read_cursor(
            folder, log_id=self.log_id, base=self.base, signing_key=self.signing_key
        )
        if cursor is None:
            return 0
        options = self.gateway_config.router.featurizer_options
        router = IR3DERouter.load(folder, featurizer_options=options, signing_key=self.signing_key)
        check_experts(router, self.gateway_config.experts, what="[[experts]] entry")
        check_routes(router)
        self.slot.adopt(router)
        self.switches.restore(read_switch_state(folder))
        logger.info("replica resumed from %s at sequence %d of the shared log", folder, cursor)
        return cursor

    def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                folded = self.fold_available()
                failing = False
            except Exception as e:  # the log is down, or a surprise: retry, never skip
                if not failing:
                    logger.error("folding the shared feedback log failed (retrying): %s", e)
                failing, folded = True, 0
            if not folded:
                if (
                    self.unsaved
                    and time.monotonic() - self._last_save >= self.config.save_every_seconds
                ):
                    self.save()
                self._wake.wait(self.config.shared_log_poll_seconds)
                self._wake.clear()

    def _fold_batch(self, batch: list[LoggedEvent]) -> None:
        """Fold events in sequence order in one call: the statistics as if folded one by one
        (``sequential``: replicas reading batches of other sizes agree bit for bit), the weights
        solved and published once. A batch with an event that cannot be folded (nothing of it
        was folded then) is folded one event at a time, so that one alone is skipped."""
        router = self.slot.router
        try:
            events = [decode_event(e.payload, router.statistics_.n_features) for e in batch]
            router.partial_fit_features(
                np.stack([event.row for event in events]),
                [{event.expert: event.score} for event in events],
                sample_weight=[event.weight for event in events],
                sequential=True,
            )
        except (IR3DEError, ValueError):
            for logged in batch:
                self._fold(logged)
            return
        for logged, event in zip(batch, events, strict=True):
            self._folded(event)
            self.cursor = logged.sequence
        self.unsaved += len(batch)
        self.metrics.unsaved.set(self.unsaved)

    def _folded(self, event: FeedbackEvent) -> None:
        self.folded += 1
        self.metrics.feedback.labels(event.expert).inc()
        if event.origin != self.origin:  # another replica's key spent this: as stored
            self.guard.charge(event.client, event.expert, event.weight, event.influence)

    def _fold(self, logged: LoggedEvent) -> None:
        router = self.slot.router
        try:
            event = decode_event(logged.payload, router.statistics_.n_features)
            router.partial_fit_features(
                event.row[None, :], [{event.expert: event.score}], sample_weight=[event.weight]
            )
        except (IR3DEError, ValueError) as e:  # the same on every replica: all skip it
            self.skipped += 1
            self.metrics.feedback_rejected.labels("cannot_fold").inc()
            logger.error(
                "event %d of the shared log cannot be folded, skipped: %s", logged.sequence, e
            )
        else:
            self._folded(event)
        self._advance(logged.sequence)

    def _advance(self, sequence: int) -> None:
        self.cursor = sequence
        self.unsaved += 1
        self.metrics.unsaved.set(self.unsaved)


def _check_foldable(router: IR3DERouter) -> None:
    if not rows_foldable(router):
        msg = (
            "feedback.shared_log needs a quality-mode router on row features (hashing, sentence, "
            "openai or pooled tokens) with the default centred intercept: replicas fold feature "
            "rows. Refit the router so, or run one gateway without a shared log"
        )
        raise ConfigError(msg)
