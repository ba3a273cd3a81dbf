"""`LogSwitches`: promotion and rollback when replicas share a feedback log.

A promotion or rollback is an entry of the shared log (`ir3de_serve.sharedlog.switches`),
carrying the router's files and their SHA-256. Every replica, folding the log in order, loads
that router at exactly that sequence number and folds the later events into it, so replicas
that folded the same prefix hold the same router, bit for bit. The ``[router] path`` folder is
never written: it stays the base every replica (and the log) started from; a replica's state
after a switch is its ``save_to`` save, whose cursor records the switches folded.

Two kinds of failure, so that replicas never diverge:

- **Refused** (the same on every replica, a function of the entry's bytes and the shared
  config): the entry does not decode or its files do not match its hash, the router does not
  load (corrupt, unsigned with a signing key set), cannot route, has other experts or another
  featurizer, or cannot fold rows. Every replica skips the switch and keeps its router.
- **Pending** (this replica's environment: a temporary folder that cannot be written, a
  featurizer's dependency missing, ...): the replica stops folding at the switch, keeps
  serving its router, says so in ``/healthz`` and the log, and retries at every poll.

The appending replica first loads the very bytes it appends the same way, so a router it
refuses never reaches the log.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ir3de_core.exceptions import IR3DEError, MissingDependencyError
from ir3de_core.fit.updates import updates_online
from ir3de_core.router import IR3DERouter
from ir3de_serve.config import GatewayConfig
from ir3de_serve.errors import GatewayError
from ir3de_serve.metrics import GatewayMetrics
from ir3de_serve.sharedlog import LoggedEvent, SharedLogError
from ir3de_serve.sharedlog.switches import (
    SwitchEntry,
    archive_digest,
    decode_switch,
    encode_switch,
    switch_key,
    unpack_router,
)
from ir3de_serve.storage import RouterSlot, load_checked
from ir3de_serve.versions import VersionError, VersionStore

if TYPE_CHECKING:
    from ir3de_serve.shared_feedback import SharedFeedback

__all__ = ["LogSwitches", "SwitchPending", "SwitchRefused", "rows_foldable"]

logger = logging.getLogger("ir3de.serve")
_CONTENT_ERRORS = (IR3DEError, ValueError, KeyError, TypeError, ArithmeticError)


class SwitchRefused(ValueError):
    """The switch's router is refused on every replica (the router in force stays)."""


class SwitchPending(RuntimeError):
    """This replica cannot load the switch's router now; it retries without folding further."""


def rows_foldable(router: IR3DERouter) -> bool:
    """Whether replicas can fold feature rows into `router` (quality mode, online updates)."""
    state = router.state_
    return router.target == "quality" and updates_online(
        router.update_spec(), state, state.statistics.names
    )


class LogSwitches:
    """A replica's switches: the version in force, the rollback stack, the last switch's number.

    Args:
        config: the gateway config. slot: the router in force (its router now is the base).
        metrics: promotions, rollbacks, refusals, the version in force.
        log_id: the shared log's id (names the versions kept at a switch).
    """

    def __init__(
        self, config: GatewayConfig, slot: RouterSlot, metrics: GatewayMetrics, log_id: str
    ) -> None:
        self.config, self.slot, self.metrics, self.log_id = config, slot, metrics, log_id
        self.store = VersionStore(
            config.router.path, config.router.versions,
            load=lambda p: load_checked(config, p), signing_key=config.router.signing_key(),
        )  # fmt: skip
        self.featurizer = slot.router.featurizer_.get_config()
        self.version: str | None = None
        self.sha256: str | None = None
        self.previous: list[str] = []
        self.epoch = 0
        self.pending: str | None = None
        self.refused: str | None = None
        self.outcomes: dict[int, str] = {}
        self.listeners: list[Callable[[str], None]] = []

    # ------------------------------------------------------------------ state
    def state(self) -> dict[str, Any]:
        """What the cursor saves (`restore` reads it back)."""
        return {"version": self.version, "sha256": self.sha256, "previous": list(self.previous),
                "epoch": self.epoch}  # fmt: skip

    def restore(self, state: dict[str, Any]) -> None:
        """Resume with the switches of a saved state (the router saved with it is in force)."""
        version, previous, epoch = (
            state.get("version"),
            state.get("previous", []),
            state.get("epoch", 0),
        )
        self.version = version if isinstance(version, str) else None
        sha256 = state.get("sha256")
        self.sha256 = sha256 if isinstance(sha256, str) else None
        self.previous = [str(p) for p in previous] if isinstance(previous, list) else []
        self.epoch = epoch if isinstance(epoch, int) else 0
        self.metrics.in_force(self.version)

    def stats(self) -> dict[str, Any]:
        """For ``/healthz``: the version in force, the last switch, what is pending or refused."""
        return {"version": self.version, "epoch": self.epoch, "pending": self.pending,
                "refused": self.refused}  # fmt: skip

    # ------------------------------------------------------------------ loading
    def load_files(self, files: dict[str, bytes]) -> IR3DERouter:
        """Load a switch's router files as untrusted data, checked as every replica checks them.

        Raises:
            SwitchRefused: the router is refused (on every replica alike).
            OSError, MissingDependencyError: this replica cannot load it now.
        """
        with tempfile.TemporaryDirectory(prefix="ir3de-switch-") as tmp:
            folder = unpack_router(files, Path(tmp) / "router")
            try:
                router = load_checked(self.config, folder)
            except MissingDependencyError:
                raise
            except _CONTENT_ERRORS as e:
                msg = f"{type(e).__name__}: {e}".replace(str(folder), "<switch>")
                raise SwitchRefused(msg) from e
        if router.featurizer_.get_config() != self.featurizer:
            msg = "its featurizer is not the base router's (logged rows would not fit it)"
            raise SwitchRefused(msg)
        if not rows_foldable(router):
            msg = "it cannot fold feature rows (a quality-mode router with online updates)"
            raise SwitchRefused(msg)
        return router

    # ------------------------------------------------------------------ the folding thread
    def fold(self, logged: LoggedEvent) -> None:
        """Apply (or refuse) the switch `logged`, at its place in the log.

        Raises:
            SwitchPending: this replica cannot load the router now (the cursor stays).
        """
        try:
            entry = decode_switch(logged.payload)
            router = self.load_files(entry.files)
        except (SwitchRefused, ValueError) as e:
            self._refuse(logged.sequence, str(e))
            return
        except Exception as e:  # this replica's environment: retry
            reason = f"switch {logged.sequence} cannot be loaded here (retrying): {e}"
            if self.pending != reason:
                logger.error("%s; the router in force stays", reason)
            self.pending = reason
            raise SwitchPending(reason) from e
        self._apply(logged.sequence, entry, router)

    def _apply(self, sequence: int, entry: SwitchEntry, router: IR3DERouter) -> None:
        if entry.action == "promote":
            self.previous.append(
                self._keep(self.slot.router, f"before-{sequence}-{self.log_id[:8]}")
            )
            self.metrics.promotions.inc()
        else:
            if self.previous and self.previous[-1] == entry.version:
                self.previous.pop()
            self.metrics.rollbacks.inc()
        before = self.version
        self.slot.adopt(router)
        self.version, self.epoch, self.pending = entry.version, sequence, None
        self.sha256 = entry.sha256
        self.outcomes[sequence] = "applied"
        self.metrics.in_force(entry.version)
        logger.warning(
            "router switch %d of the shared log: %s to version %s (sha256 %s…, was %s): %s",
            sequence, entry.action, entry.version, entry.sha256[:12], before or "base", entry.note,
        )  # fmt: skip
        for listener in self.listeners:
            listener(entry.version)

    def _refuse(self, sequence: int, reason: str) -> None:
        self.refused = f"switch {sequence} refused, the router in force stays: {reason}"
        self.epoch, self.pending = sequence, None
        self.outcomes[sequence] = "refused"
        self.metrics.switches_refused.labels("refused").inc()
        logger.error("%s", self.refused)

    def _keep(self, router: IR3DERouter, name: str) -> str:
        """Keep the outgoing `router` as version `name` (replicas on one machine keep the same
        bytes-identical statistics under the same name: the first one's is kept)."""
        if (self.store.folder / name).is_dir():
            return name
        try:
            self.store.keep(router, name, note="in force before a shared-log switch")
        except (VersionError, OSError) as e:
            logger.error("keeping version %s failed (a rollback to it needs it): %s", name, e)
        return name

    # ------------------------------------------------------------------ the appending side
    def request(
        self, shared: SharedFeedback, action: str, version: str, files: dict[str, bytes], note: str
    ) -> dict[str, Any]:
        """Append a switch to `version` (its `files`, loaded and checked first) and wait until
        this replica has folded it; what the endpoint answers.

        Raises:
            GatewayError: 409 when another switch won this log position; 422 when refused;
                503 when the log cannot be written.
        """
        self.load_files(files)  # refused here: never appended
        entry = SwitchEntry(
            action, version, archive_digest(files), self.epoch, files, note, shared.origin
        )
        if action == "promote" and entry.sha256 == self.sha256:  # in force already: a no-op
            return {"sequence": self.epoch, "applied": True, "appended": False}
        try:
            sequence, stored = shared.append_switch(switch_key(entry.epoch), encode_switch(entry))
        except SharedLogError as e:
            msg = f"the shared feedback log cannot be written now; nothing switched: {e}"
            raise GatewayError(503, msg, code="feedback_log_unavailable") from e
        try:
            winner = decode_switch(stored)
        except ValueError:
            winner = None
        if winner is None or (winner.action, winner.sha256) != (action, entry.sha256):
            msg = (
                f"another router switch was appended first at this log position (sequence "
                f"{sequence}); GET /admin/versions shows the version in force; try again"
            )
            raise GatewayError(409, msg, code="switch_conflict")
        outcome = self._wait(shared, sequence)
        if outcome == "refused":
            raise GatewayError(422, str(self.refused), code="router_refused")
        return {"sequence": sequence, "applied": outcome == "applied",
                "appended": winner.origin == shared.origin}  # fmt: skip

    def _wait(self, shared: SharedFeedback, sequence: int, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while shared.cursor < sequence and time.monotonic() < deadline:
            shared.wake()
            time.sleep(0.02)
        return self.outcomes.get(sequence, "pending")
