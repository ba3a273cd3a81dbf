"""`Rollout`: the gateway's shadow candidate, its promotion, and rollback over named versions.

A promotion keeps the router in force as a version (as it is now, with the feedback it has
learned), keeps the candidate as a version, then switches: the candidate is loaded back from
its kept files as untrusted data, probed (`check_routes`), written into the router folder
atomically and swapped in (`RouterSlot.publish`). A rollback switches back to the version in
force before. Both are written to the versions' ``history.jsonl`` and to the log.

With a shared feedback log (replicas) a promotion or rollback is an entry of the log instead,
with the router's files and their hash, and every replica switches at that entry's place in
the log (`ir3de_serve.switching`); the router folder is not written then (it stays the base
every replica started from).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ir3de_core.router import IR3DERouter
from ir3de_serve.config import GatewayConfig
from ir3de_serve.errors import GatewayError
from ir3de_serve.metrics import GatewayMetrics
from ir3de_serve.shadow import Shadow
from ir3de_serve.sharedlog.switches import archive_digest, pack_router
from ir3de_serve.storage import RouterSlot, load_checked
from ir3de_serve.versions import VersionError, VersionStore

if TYPE_CHECKING:
    from ir3de_serve.shared_feedback import SharedFeedback

__all__ = ["Rollout"]

logger = logging.getLogger("ir3de.serve")


class Rollout:
    """Shadow, promote, roll back.

    Args:
        config: the gateway config (``[router]``, ``[shadow]``, ``[feedback]``).
        slot: the router in force.
        metrics: promotions, rollbacks, the version in force, the shadow's estimate.
        shared: the replica's shared feedback log (None: one gateway).
    """

    def __init__(
        self,
        config: GatewayConfig,
        slot: RouterSlot,
        metrics: GatewayMetrics | None = None,
        shared: SharedFeedback | None = None,
    ) -> None:
        self.config = config
        self.slot = slot
        self.metrics = metrics or GatewayMetrics()
        self.shared = shared
        self.signing_key = config.router.signing_key()
        if shared is not None:  # replicas: the log names the version in force
            self.store = shared.switches.store
            shared.switches.listeners.append(self._switched)
        else:
            self.store = VersionStore(
                config.router.path, config.router.versions, load=self.load,
                signing_key=self.signing_key,
            )  # fmt: skip
            self.metrics.in_force(self.store.current())
        self.shadow: Shadow | None = None
        self._lock = threading.Lock()
        in_force = shared.switches.version if shared is not None else None
        if config.shadow.router is not None and (
            in_force is None or in_force != config.shadow.name
        ):
            self.start_shadow(self.load(config.shadow.router), config.shadow.name)

    def load(self, path: Path) -> IR3DERouter:
        """Load a router folder as untrusted data, checked like the router in force."""
        return load_checked(self.config, path)

    def start_shadow(self, candidate: IR3DERouter, name: str | None, *, kept: bool = False) -> None:
        """Shadow `candidate` (checked; `kept`: the version `name`), replacing any shadow."""
        if candidate.target != "quality":
            msg = "a shadow candidate must be a quality-mode router (its estimate needs scores)"
            raise GatewayError(409, msg, code="shadow_refused")
        self.shadow = Shadow(
            candidate,
            self.config.resolve_policy(candidate.policy_),
            name=name,
            kept=kept,
            experts=list(self.config.experts),
            config=self.config.shadow,
            window=self.config.feedback.window_seconds,
            max_pending=self.config.feedback.max_pending,
        )
        logger.info("shadowing candidate router %s", name or self.config.shadow.router)

    async def reward(self, completion_id: str, score: Any) -> None:
        """Feedback for a completion: the shadow's event; maybe auto-promote (a failure to
        promote is logged, never the feedback's error)."""
        shadow = self.shadow
        if shadow is None or not shadow.reward(completion_id, score) or not shadow.due():
            return
        shadow.checked_at = shadow.n_events
        try:
            gain = await asyncio.to_thread(self.estimate, shadow)
            if gain is not None and gain.beats_logging():
                note = f"auto: DR gain {gain.dr_gain.value:+.4g} [{gain.dr_gain.low:+.4g}, "
                note += f"{gain.dr_gain.high:+.4g}] on {gain.values.n} events"
                await asyncio.to_thread(self.promote, None, note=note, expected=shadow)
        except Exception:  # the router in force stays; the next check tries again
            logger.exception("auto-promoting the shadow candidate failed")

    def estimate(self, shadow: Shadow) -> Any:
        """The shadow's gain report (`Shadow.estimate`), recorded in the metrics."""
        gain = shadow.estimate()
        dr = None if gain is None else gain.dr_gain
        bounds = None if dr is None else (dr.value, dr.low, dr.high)
        self.metrics.shadow_estimate(shadow.n_events, bounds)
        return gain

    def promote(
        self, name: str | None = None, *, note: str = "", expected: Shadow | None = None
    ) -> dict[str, Any]:
        """Put version `name` (None: the shadow candidate) in force; what the endpoint answers
        (``promoted: None`` when `expected` is no longer the shadow: nothing done).

        Raises:
            GatewayError: 409 without a candidate, a refused router, or (replicas) when
                another switch won the log position.
        """
        if self.shared is not None:
            return self._promote_shared(self.shared, name, note=note, expected=expected)
        with self._lock:
            shadow = self.shadow
            if expected is not None and shadow is not expected:
                return {"promoted": None}  # promoted or replaced meanwhile
            if name is None:
                if shadow is None:
                    msg = "no shadow candidate to promote: name a version, or start a shadow"
                    raise GatewayError(409, msg, code="no_candidate")
                if not shadow.kept:
                    taken = {v.name for v in self.store.kept()}
                    wanted = shadow.name if shadow.name not in taken else None
                    shadow.name = self.store.keep(shadow.candidate, wanted, note="candidate")
                    shadow.kept = True
                name = str(shadow.name)
            _, outgoing = self.store.switch(
                name, install=self._install, outgoing=self.slot.router, note=note or "manual"
            )
            if shadow is not None and shadow.name == name:
                self.shadow = None  # the candidate is the router in force now
        self.metrics.promotions.inc()
        self.metrics.in_force(name)
        logger.warning("router version %s promoted (was %s): %s", name, outgoing, note)
        return {"promoted": name, "previous": outgoing, "router_version": self.slot.version}

    def rollback(self, *, note: str = "") -> dict[str, Any]:
        """Put back the version in force before the current one."""
        if self.shared is not None:
            return self._rollback_shared(self.shared, note=note)
        with self._lock:
            before = self.store.current()
            name, _ = self.store.rollback(install=self._install, note=note or "manual")
        self.metrics.rollbacks.inc()
        self.metrics.in_force(name)
        logger.warning("router rolled back from version %s to %s", before, name)
        return {"rolled_back_to": name, "from": before, "router_version": self.slot.version}

    def versions(self) -> dict[str, Any]:
        """What ``GET /admin/versions`` answers."""
        if self.shared is not None:
            switches = self.shared.switches
            return {
                "current": switches.version,
                "previous": list(switches.previous),
                "shared_log": switches.stats(),
                "versions": [v.to_dict() for v in self.store.kept()],
            }
        return {
            "current": self.store.current(),
            "versions": [v.to_dict() for v in self.store.kept()],
            "history": self.store.history()[-50:],
        }

    def _install(self, router: IR3DERouter) -> None:
        self.slot.publish(router, self.signing_key)

    # ------------------------------------------------------------------ replicas
    def _promote_shared(
        self, shared: SharedFeedback, name: str | None, *, note: str, expected: Shadow | None
    ) -> dict[str, Any]:
        """Append a promotion to the shared log (the candidate's files, or kept version
        `name`'s) and wait until this replica has folded it."""
        with self._lock:
            shadow = self.shadow
            if expected is not None and shadow is not expected:
                return {"promoted": None}
            if name is None:
                if shadow is None:
                    msg = "no shadow candidate to promote: name a version, or start a shadow"
                    raise GatewayError(409, msg, code="no_candidate")
                files = self._files(shadow.candidate)
                name = shadow.name or f"candidate-{archive_digest(files)[:12]}"
            else:
                self.store.load(name)  # a missing or refused version: 404 / 422
                files = pack_router(self.store.folder / name)
            before = shared.switches.version
            answer = shared.switches.request(shared, "promote", name, files, note or "manual")
        logger.warning("router version %s promoted on the shared log (was %s)", name, before)
        return {"promoted": name, "previous": before, "router_version": self.slot.version, **answer}

    def _rollback_shared(self, shared: SharedFeedback, *, note: str) -> dict[str, Any]:
        """Append a rollback to the version in force before the last promotion."""
        with self._lock:
            switches = shared.switches
            if not switches.previous:
                msg = (
                    f"nothing to roll back to: no version was in force before {switches.version!r}"
                )
                raise VersionError(msg)
            name, before = switches.previous[-1], switches.version
            self.store.load(name)
            files = pack_router(self.store.folder / name)
            answer = switches.request(shared, "rollback", name, files, note or "manual")
        logger.warning("router rolled back on the shared log from version %s to %s", before, name)
        return {"rolled_back_to": name, "from": before, "router_version": self.slot.version,
                **answer}  # fmt: skip

    def _files(self, router: IR3DERouter) -> dict[str, bytes]:
        """The files of `router` saved (signed when there is a key), for a switch entry."""
        with tempfile.TemporaryDirectory(prefix="ir3de-promote-") as tmp:
            return pack_router(router.save(Path(tmp) / "router", signing_key=self.signing_key))

    def _switched(self, version: str) -> None:
        """A switch folded from the log: a shadow of that version is in force now."""
        shadow = self.shadow
        if shadow is not None and shadow.name == version:
            self.shadow = None
